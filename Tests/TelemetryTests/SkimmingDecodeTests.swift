import Testing
import Telemetry
import TelemetryFuzzChecks

/// The decode that validates span attributes and events without building them, which the
/// collector uses when nothing it runs reads them.
@Suite struct SkimmingDecodeTests {
    private static func skim(_ bytes: [UInt8]) throws(TelemetryDecodingError) -> ExportTraceServiceRequest {
        try bytes.withUnsafeBytes { buffer in
            Result { () throws(TelemetryDecodingError) in
                try ExportTraceServiceRequest(protobuf: buffer, keepingSpanBytes: true, skimming: .keepingNothing)
            }
        }.get()
    }

    private static func disagreement(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { skimmingDisagreement($0) }
    }

    @Test func everythingButAttributesAndEventsIsDecodedAndEverySpanIsStoredWhole() throws {
        let request = Fixtures.fullTraceRequest()
        let bytes = request.protobufBytes()
        #expect(Self.disagreement(bytes) == nil)
        let skimmed = try Self.skim(bytes)
        #expect(skimmed.attributesSkimmed)
        let producer = skimmed.resourceSpans[0].scopeSpans[0].spans[0]
        let original = request.resourceSpans[0].scopeSpans[0].spans[0]
        #expect(producer.attributes.isEmpty && producer.events.isEmpty && producer.links[0].attributes.isEmpty)
        #expect(producer.name == original.name && producer.traceState == original.traceState)
        #expect(producer.droppedAttributesCount == 3 && producer.droppedEventsCount == 2 && producer.status == original.status)
        #expect(producer.links.map(\.spanID) == original.links.map(\.spanID) && producer.links[0].droppedAttributesCount == 4)
        // The resource and scope are whole: the store names the service from the resource.
        #expect(skimmed.resourceSpans[0].resource == request.resourceSpans[0].resource)
        #expect(skimmed.resourceSpans[0].scopeSpans[0].scope == request.resourceSpans[0].scopeSpans[0].scope)

        var whole: [[UInt8]] = [], stored: [[UInt8]] = []
        request.forEachSpanRequest { _, _, bytes in whole.append(bytes.protobuf) }
        skimmed.forEachSpanRequest { _, _, bytes in stored.append(bytes.protobuf) }
        #expect(stored == whole)
        #expect(skimmed.receivedProtobuf == bytes)

        let full = try bytes.withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0, keepingSpanBytes: true) }
        #expect(try #require(skimmed.receivedSpans).decodedMemoryBytes < #require(full.receivedSpans).decodedMemoryBytes)
    }

    @Test func decodingTheSkimmedAttributesGivesTheFullRequestAndKeepsTheBytesAndGzip() throws {
        let request = Fixtures.fullTraceRequest()
        var skimmed = try Self.skim(request.protobufBytes())
        skimmed.keepReceivedGzip([0x1F, 0x8B])
        skimmed.decodeSkimmedAttributes()
        #expect(!skimmed.attributesSkimmed)
        #expect(skimmed == request)
        #expect(skimmed.receivedProtobuf == request.protobufBytes())
        #expect(skimmed.receivedGzip == [0x1F, 0x8B])
        // Whole now, so it may change; the received bytes are then forgotten as usual.
        skimmed.resourceSpans[0].scopeSpans[0].spans.removeFirst()
        #expect(skimmed.receivedProtobuf == nil)
    }

    /// Every prefix of a request, and every byte of it changed: the skimming decode refuses
    /// what the full one refuses, with the same message, and keeps what it keeps.
    @Test func brokenInputIsRefusedAsTheFullDecodeRefusesIt() {
        let bytes = Fixtures.fullTraceRequest().protobufBytes()
        var disagreements: [String] = []
        for length in 0..<bytes.count {
            if let d = Self.disagreement(Array(bytes[..<length])) { disagreements.append("prefix \(length): \(d)") }
        }
        for position in bytes.indices {
            for replacement: UInt8 in [0x00, 0x80, 0xFF, bytes[position] ^ 0x01] where replacement != bytes[position] {
                var changed = bytes
                changed[position] = replacement
                if let d = Self.disagreement(changed) { disagreements.append("byte \(position) = \(replacement): \(d)") }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }

    @Test(arguments: [
        // The third attribute's string value.
        ("resourceSpans[0].scopeSpans[0].spans[0].attributes[2].value.stringValue: invalid UTF-8 in a string field", 9 as UInt64),
        // In an event's attribute.
        ("resourceSpans[0].scopeSpans[0].spans[0].events[2].attributes[0].value.stringValue: invalid UTF-8 in a string field", 11),
        // In a link's attribute.
        ("resourceSpans[0].scopeSpans[0].spans[0].links[2].attributes[0].value.stringValue: invalid UTF-8 in a string field", 13),
    ])
    func aFaultInsideWhatIsSkimmedNamesItsPath(expected: String, field: UInt64) {
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            for index in 0..<3 {
                let value: [UInt8] = index == 2 ? [0x61, 0xC3, 0x28] : Array("fine".utf8)
                let attribute = { (kv: inout ProtobufBuilder) in
                    kv.string(1, "key")
                    kv.message(2) { v in v.bytesField(1, value) }
                }
                switch field {
                case 9: s.message(9, attribute)
                case 11: s.message(11) { event in event.message(3, attribute) }
                default:
                    s.message(13) { link in
                        link.bytesField(1, Fixtures.otherTraceID.bytes)
                        link.bytesField(2, SpanID(9).bytes)
                        link.message(4, attribute)
                    }
                }
            }
        }
        #expect(decodingError { () throws(TelemetryDecodingError) in _ = try Self.skim(bytes) }?.description == expected)
        #expect(Self.disagreement(bytes) == nil)
    }

    @Test func nestingBeyondTheLimitIsRefusedWithoutOverflowing() {
        var value = ProtobufBuilder()
        value.varintField(3, 1)
        for depth in 0..<10_000 {
            var list = ProtobufBuilder()
            // Arrays and key-value lists alternate.
            if depth % 2 == 0 {
                list.message(5) { array in array.bytesField(1, value.bytes) }
            } else {
                list.message(6) { kvlist in kvlist.message(1) { kv in kv.string(1, "k"); kv.bytesField(2, value.bytes) } }
            }
            value = list
        }
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            s.message(9) { kv in kv.bytesField(2, value.bytes) }
        }
        let error = decodingError { () throws(TelemetryDecodingError) in _ = try Self.skim(bytes) }
        #expect(error?.reason == "AnyValue nested more than 32 deep")
        #expect(Self.disagreement(bytes) == nil)
    }
}

extension SkimmingDecodeTests {
    /// What a consumer reads (the stitcher: a few messaging attributes and one event name)
    /// is built whole; the rest is skimmed.
    @Test func keptAttributesAndEventsAreBuiltWholeAndNothingElse() throws {
        let skim = AttributeSkim(keepingAttributes: ["messaging.destination.name", "absent"], keepingEvents: ["exception"])
        let request = Fixtures.fullTraceRequest()
        let bytes = request.protobufBytes()
        let skimmed = try bytes.withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0, keepingSpanBytes: true, skimming: skim) }
        let producer = skimmed.resourceSpans[0].scopeSpans[0].spans[0]
        #expect(producer.attributes == [KeyValue("messaging.destination.name", "order_events")])
        #expect(producer.events == [request.resourceSpans[0].scopeSpans[0].spans[0].events[0]])
        #expect(producer.links[0].attributes.isEmpty)
        #expect(skimmed.resourceSpans[0].scopeSpans[0].spans[1].attributes.isEmpty)
        #expect(bytes.withUnsafeBytes { skimmingDisagreement($0, skim: skim) } == nil)
        // Broken input, refused alike with attributes kept.
        for length in stride(from: 0, to: bytes.count, by: 3) {
            #expect(Array(bytes[..<length]).withUnsafeBytes { skimmingDisagreement($0, skim: skim) } == nil)
        }
    }
}

extension SkimmingDecodeTests {
    /// Protobuf lets a message's fields come in any order and repeat, the last one counting:
    /// an attribute is kept by the key that counts, wherever it is.
    @Test func anAttributeIsKeptByItsLastKeyWhereverItComes() throws {
        let skim = AttributeSkim(keepingAttributes: ["kept"])
        let bytes = traceRequestBytes { s in
            validSpanFields(&s)
            // Value first, then the key.
            s.message(9) { kv in kv.message(2) { v in v.varintField(3, 1) }; kv.string(1, "kept") }
            // A kept key replaced by one not kept.
            s.message(9) { kv in kv.string(1, "kept"); kv.message(2) { v in v.varintField(3, 2) }; kv.string(1, "other") }
            // A key not kept replaced by a kept one.
            s.message(9) { kv in kv.string(1, "other"); kv.message(2) { v in v.varintField(3, 3) }; kv.string(1, "kept") }
        }
        let skimmed = try bytes.withUnsafeBytes { try ExportTraceServiceRequest(protobuf: $0, keepingSpanBytes: true, skimming: skim) }
        #expect(skimmed.resourceSpans[0].scopeSpans[0].spans[0].attributes == [KeyValue("kept", .int(1)), KeyValue("kept", .int(3))])
        #expect(bytes.withUnsafeBytes { skimmingDisagreement($0, skim: skim) } == nil)
    }
}
