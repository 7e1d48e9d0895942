import Instrumentation
import Logging
import Synchronization
import Testing
import Tracing

@testable import EventTracing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The JSON lines of `JSONLogHandler`: exact bytes for fixed inputs, RFC 8259 escaping,
/// RFC 3339 timestamps, and the fields taken from the task-local `ServiceContext`.
@Suite struct LoggingJSONLogHandlerTests {
    /// 2026-11-28T17:35:44.123456789Z.
    static let instant: UInt64 = 1_795_887_344_123_456_789

    /// Collects what the handler writes and what it hands its record sink.
    final class Capture: LogRecordSink {
        private let state = Mutex<(lines: [[UInt8]], records: [StructuredLogRecord])>(([], []))

        var lines: [String] { state.withLock { $0.lines.map { String(decoding: $0, as: UTF8.self) } } }
        var rawLines: [[UInt8]] { state.withLock { $0.lines } }
        var records: [StructuredLogRecord] { state.withLock { $0.records } }

        func write(_ line: [UInt8]) { state.withLock { $0.lines.append(line) } }
        func emit(_ record: StructuredLogRecord) { state.withLock { $0.records.append(record) } }
    }

    let capture = Capture()

    func logger(
        includesSource: Bool = false,
        includesCodeLocation: Bool = false,
        metadataProvider: Logger.MetadataProvider? = nil
    ) -> Logger {
        let capture = self.capture
        return Logger(label: "orders") { label in
            JSONLogHandler(
                label: label,
                serviceName: "order-service",
                logLevel: .trace,
                output: JSONLogHandler.Output { capture.write($0) },
                recordSink: capture,
                metadataProvider: metadataProvider,
                includesSource: includesSource,
                includesCodeLocation: includesCodeLocation,
                clock: { LoggingJSONLogHandlerTests.instant }
            )
        }
    }

    /// The one line logged, without its newline.
    func line() throws -> String {
        let lines = capture.lines
        try #require(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.hasSuffix("}\n"))
        return String(line.dropLast())
    }

    static let prefix =
        #"{"timestamp":"2026-11-28T17:35:44.123456789Z","level":"info","message":"order placed","logger":"orders","service.name":"order-service""#

    // MARK: exact output

    @Test func aLineOutsideAnySpanHasOnlyTheFixedMembers() throws {
        logger().info("order placed")
        #expect(try line() == Self.prefix + "}")
    }

    @Test func eachRecordIsOneLineEndingInANewline() throws {
        let logger = logger()
        logger.info("one")
        logger.warning("two")
        #expect(capture.rawLines.count == 2)
        for line in capture.rawLines {
            #expect(line.last == UInt8(ascii: "\n"))
            #expect(line.dropLast().contains(UInt8(ascii: "\n")) == false)
        }
    }

    @Test func levelsAreSwiftLogsNames() throws {
        let logger = logger()
        for level in Logger.Level.allCases { logger.log(level: level, "x") }
        let levels = capture.records.map(\.level.rawValue)
        #expect(levels == ["trace", "debug", "info", "notice", "warning", "error", "critical"])
        #expect(capture.lines[4].contains(#""level":"warning""#))
    }

    @Test func traceFieldsAndCorrelationIDComeFromTheCurrentSpanContext() throws {
        var context = ServiceContext.topLevel
        context.spanContext = SpanContext(
            traceID: .init(high: 0x4bf9_2f35_77b3_4da6, low: 0xa3ce_929d_0e0e_4736),
            spanID: .init(0x00f0_67aa_0ba9_02b7),
            flags: [.sampled, .random]
        )
        context.correlationID = CorrelationID("01JDQ3ZR8Q6E7W2M4T1KX9V5NB")
        ServiceContext.withValue(context) { logger().info("order placed") }
        #expect(
            try line() == Self.prefix
                + #","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"03""#
                + #","correlation_id":"01JDQ3ZR8Q6E7W2M4T1KX9V5NB"}"#
        )
    }

    /// A tracer that keeps its span under a key of its own, as swift-otel's does, and
    /// writes it only through `inject`.
    struct ForeignInstrument: Instrument {
        enum ForeignSpanKey: ServiceContextKey { typealias Value = String }

        func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
        where Extract.Carrier == Carrier {}

        func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
        where Inject.Carrier == Carrier {
            guard let traceparent = context[ForeignSpanKey.self] else { return }
            injector.inject(traceparent, forKey: "traceparent", into: &carrier)
        }
    }

    func recordUnderForeignTracer(traceparent: String) -> StructuredLogRecord {
        var context = ServiceContext.topLevel
        context[ForeignInstrument.ForeignSpanKey.self] = traceparent
        let handler = JSONLogHandler(label: "orders", serviceName: "order-service", output: nil)
        let event = LogEvent(level: .info, message: "order placed", metadata: nil, source: "", file: "", function: "", line: 0)
        return handler.record(of: event, in: context, instrument: ForeignInstrument())
    }

    @Test func underAForeignTracerTheSpanIsReadBackThroughItsTraceparent() {
        let record = recordUnderForeignTracer(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(record.traceID?.description == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(record.spanID?.description == "00f067aa0ba902b7")
        #expect(record.traceFlags == [.sampled])
    }

    @Test func underAForeignTracerAnInvalidTraceparentLeavesTheLineWithoutSpan() {
        let record = recordUnderForeignTracer(traceparent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01")
        #expect(record.traceID == nil)
        #expect(record.spanID == nil)
    }

    @Test func traceFlagsAreTwoHexDigits() throws {
        var context = ServiceContext.topLevel
        context.spanContext = SpanContext(traceID: .init(high: 1, low: 2), spanID: .init(3), flags: [])
        ServiceContext.withValue(context) { logger().info("order placed") }
        #expect(try line().contains(#""trace_id":"00000000000000010000000000000002","span_id":"0000000000000003","trace_flags":"00"}"#))
    }

    @Test func aCorrelationIDWithoutASpanIsWrittenAlone() throws {
        var context = ServiceContext.topLevel
        context.correlationID = CorrelationID("c-1")
        ServiceContext.withValue(context) { logger().info("order placed") }
        #expect(try line() == Self.prefix + #","correlation_id":"c-1"}"#)
    }

    @Test func sourceAndCodeLocationAreWrittenWhenAskedFor() throws {
        logger(includesSource: true, includesCodeLocation: true)
            .info("order placed", source: "Orders", file: "Orders/Place.swift", function: "place()", line: 42)
        #expect(
            try line() == Self.prefix
                + #","source":"Orders","file":"Orders/Place.swift","function":"place()","line":42}"#
        )
    }

    struct OutOfStock: Error, CustomStringConvertible {
        var description: String { "sku 7 is out of stock" }
    }

    @Test func anErrorIsWrittenAsExceptionTypeAndMessage() throws {
        logger().info("order placed", error: OutOfStock())
        #expect(
            try line() == Self.prefix
                + #","exception.type":"EventTracingTests.LoggingJSONLogHandlerTests.OutOfStock""#
                + #","exception.message":"sku 7 is out of stock"}"#
        )
    }

    // MARK: metadata

    @Test func metadataFollowsTheFixedMembersInKeyOrder() throws {
        logger().info("order placed", metadata: ["zeta": "1", "alpha": "2", "order_id": "42"])
        #expect(try line() == Self.prefix + #","alpha":"2","order_id":"42","zeta":"1"}"#)
    }

    @Test func callMetadataWinsOverProviderMetadataWhichWinsOverHandlerMetadata() throws {
        var logger = logger(metadataProvider: Logger.MetadataProvider { ["a": "provider", "b": "provider"] })
        logger[metadataKey: "a"] = "handler"
        logger[metadataKey: "b"] = "handler"
        logger[metadataKey: "c"] = "handler"
        logger.info("order placed", metadata: ["a": "call"])
        #expect(try line() == Self.prefix + #","a":"call","b":"provider","c":"handler"}"#)
    }

    @Test func nestedMetadataBecomesJSONObjectsAndArrays() throws {
        logger().info(
            "order placed",
            metadata: [
                "order": ["id": "42", "items": ["sku-1", "sku-2"], "customer": ["tier": "gold"]],
                "empty": [:],
                "none": [],
            ]
        )
        #expect(
            try line() == Self.prefix
                + #","empty":{},"none":[],"order":{"customer":{"tier":"gold"},"id":"42","items":["sku-1","sku-2"]}}"#
        )
    }

    @Test func stringConvertibleMetadataIsWrittenAsAString() throws {
        logger().info("order placed", metadata: ["count": .stringConvertible(7), "ratio": .stringConvertible(0.5)])
        #expect(try line() == Self.prefix + #","count":"7","ratio":"0.5"}"#)
    }

    @Test func metadataNamedLikeAWrittenMemberIsPrefixed() throws {
        var context = ServiceContext.topLevel
        context.correlationID = CorrelationID("c-1")
        ServiceContext.withValue(context) {
            logger().info("order placed", metadata: ["message": "shadow", "correlation_id": "other", "trace_id": "t"])
        }
        #expect(
            try line() == Self.prefix
                + #","correlation_id":"c-1","metadata.correlation_id":"other","metadata.message":"shadow","trace_id":"t"}"#
        )
    }

    // MARK: escaping

    @Test func everyControlCharacterIsEscaped() throws {
        let controls = String(decoding: (0x00...0x1F).map { UInt8($0) }, as: UTF8.self)
        logger().info("\(controls)")
        let expected =
            #"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#
            + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"#
        #expect(try line().contains(#""message":""# + expected + #"","logger""#))
    }

    @Test func quotationMarkAndReverseSolidusAreEscaped() throws {
        logger().info(#"say "hi" \ bye / ok"#)
        #expect(try line().contains(#""message":"say \"hi\" \\ bye / ok""#))
    }

    @Test func deleteAndNonASCIICharactersAreWrittenAsUTF8() throws {
        logger().info("caf\u{E9} \u{7F} \u{2028} \u{1F680}")
        #expect(try line().contains("\"message\":\"caf\u{E9} \u{7F} \u{2028} \u{1F680}\""))
    }

    @Test func keysAreEscapedLikeValues() throws {
        logger().info("order placed", metadata: ["a\"b\n": "v"])
        #expect(try line() == Self.prefix + #","a\"b\n":"v"}"#)
    }

    @Test func invalidUTF8InMetadataArrivesAsReplacementCharacters() throws {
        // Bytes that are not UTF-8 (a lone continuation byte, an overlong encoding, a
        // truncated sequence) are repaired to U+FFFD when they become a String.
        let value = String(decoding: [0x61, 0x80, 0x62, 0xC0, 0xAF, 0x63, 0xE2, 0x82], as: UTF8.self)
        logger().info("order placed", metadata: ["raw": "\(value)"])
        let bytes = try #require(capture.rawLines.first)
        let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
        let expected: [UInt8] = Array(#""raw":"a"#.utf8) + replacement + [0x62] + replacement + replacement + [0x63] + replacement
            + Array("\"}\n".utf8)
        #expect(Array(bytes.suffix(expected.count)) == expected)
        #expect(String(validating: bytes, as: UTF8.self) != nil)
    }

    // MARK: timestamps

    @Test(arguments: [
        (UInt64(0), "1970-01-01T00:00:00.000000000Z"),
        (951_868_799_999_999_999, "2000-02-29T23:59:59.999999999Z"),
        (946_684_799_000_000_001, "1999-12-31T23:59:59.000000001Z"),
        (4_107_542_400_000_000_000, "2100-03-01T00:00:00.000000000Z"),
        (1_795_887_344_123_456_789, "2026-11-28T17:35:44.123456789Z"),
        (UInt64.max, "2554-07-21T23:34:33.709551615Z"),
    ])
    func timestampsAreRFC3339InUTCWithNanoseconds(nanoseconds: UInt64, expected: String) {
        let formatted = String(unsafeUninitializedCapacity: RFC3339.length) { buffer in
            RFC3339.write(nanoseconds: nanoseconds, to: buffer)
            return RFC3339.length
        }
        #expect(formatted == expected)
    }

    @Test func everyDayOfFourHundredYearsFollowsThePreviousOne() {
        // One whole Gregorian cycle from 1970: dates must advance by exactly one day.
        var previous = RFC3339.civilDate(daysSinceEpoch: 0)
        #expect(previous == (1970, 1, 1))
        for day in UInt64(1)...146_097 {
            let date = RFC3339.civilDate(daysSinceEpoch: day)
            let isLeap = previous.year % 4 == 0 && (previous.year % 100 != 0 || previous.year % 400 == 0)
            let monthLength: [UInt64] = [31, isLeap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            let expected: (UInt64, UInt64, UInt64) =
                previous.day < monthLength[Int(previous.month - 1)]
                ? (previous.year, previous.month, previous.day + 1)
                : previous.month < 12 ? (previous.year, previous.month + 1, 1) : (previous.year + 1, 1, 1)
            guard date == expected else {
                Issue.record("day \(day): \(date), expected \(expected)")
                return
            }
            previous = date
        }
    }

    @Test func theSystemClockIsNearTheTracingClock() {
        let ours = JSONLogHandler.realTimeNanoseconds()
        let tracing = DefaultTracerClock.now.nanosecondsSinceEpoch
        #expect(ours > 1_700_000_000_000_000_000)
        #expect((ours > tracing ? ours - tracing : tracing - ours) < 60_000_000_000)
    }

    // MARK: records

    @Test func theRecordSinkReceivesTheSameRecordAsTheLine() throws {
        var context = ServiceContext.topLevel
        let span = SpanContext.newTrace(sampled: true)
        context.spanContext = span
        context.correlationID = CorrelationID("c-1")
        ServiceContext.withValue(context) { logger().error("payment failed", metadata: ["order_id": "42"]) }
        let record = try #require(capture.records.first)
        #expect(capture.records.count == 1)
        #expect(record.timestampNanoseconds == Self.instant)
        #expect(record.level == .error)
        #expect(record.message == "payment failed")
        #expect(record.label == "orders")
        #expect(record.serviceName == "order-service")
        #expect(record.metadata["order_id"] == "42")
        #expect(record.traceID == span.traceID)
        #expect(record.spanID == span.spanID)
        #expect(record.traceFlags == [.sampled, .random])
        #expect(record.correlationID?.rawValue == "c-1")
    }

    @Test func withoutAnOutputOnlyTheSinkReceivesRecords() {
        let capture = self.capture
        let logger = Logger(label: "orders") { label in
            JSONLogHandler(label: label, serviceName: "s", output: nil, recordSink: capture)
        }
        logger.info("x")
        #expect(capture.records.count == 1)
        #expect(capture.lines.isEmpty)
    }

    @Test func aFileDescriptorOutputReceivesTheWholeLine() throws {
        var descriptors: [Int32] = [0, 0]
        try #require(pipe(&descriptors) == 0)
        defer { close(descriptors[0]) }
        let line = Array(#"{"message":"\#(String(repeating: "x", count: 4000))"}"#.utf8) + [UInt8(ascii: "\n")]
        LineDestination(.fileDescriptor(descriptors[1])).write(line)
        close(descriptors[1])
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptors[0], $0.baseAddress, $0.count) }
            if count <= 0 { break }
            received += buffer[0..<count]
        }
        #expect(received == line)
    }

    @Test func linesFromConcurrentTasksNeverInterleave() async throws {
        let logger = logger()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<50 {
                        logger.info("task \(task) line \(index)", metadata: ["padding": "\(String(repeating: "x", count: 200))"])
                    }
                }
            }
        }
        let lines = capture.rawLines
        #expect(lines.count == 400)
        for line in lines {
            #expect(line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
            #expect(line.first == UInt8(ascii: "{"))
        }
    }
}
