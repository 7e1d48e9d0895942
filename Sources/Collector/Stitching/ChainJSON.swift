import Foundation
import Telemetry

/// A chain as the query API answers it (and as the store keeps it): times in Unix
/// nanoseconds and durations in nanoseconds, so that no figure is rounded.
enum ChainJSON {
    /// The fields `/api/chains` lists.
    static func summary(_ chain: Chain) -> [String: Any] {
        [
            "chainID": chain.id.description,
            "correlationID": chain.correlationID ?? NSNull(),
            "status": chain.status.rawValue,
            "open": chain.isOpen,
            "revision": chain.revision,
            "finalizedEarly": chain.finalizedEarly,
            "rootService": chain.rootService ?? NSNull(),
            "rootOperation": chain.rootOperation ?? NSNull(),
            "startTimeUnixNano": Int(clamping: chain.startUnixNano),
            "endTimeUnixNano": Int(clamping: chain.endUnixNano),
            "endToEndNanos": Int(clamping: chain.endToEndNanos),
            "traceIDs": chain.traceIDs.map(\.hex),
            "spanCount": chain.spans.count,
            "hopCount": chain.hops.count,
            "errorCount": chain.errorCount,
            "missingCount": chain.missing.count,
            "fanOutHops": chain.fanOutHops,
            "retries": chain.retries,
            "deadLetterHops": chain.deadLetterHops,
            "duplicatesSkipped": chain.duplicatesSkipped,
        ]
    }

    /// The summary with the hops in causal order, the critical path and the missing parts.
    static func detail(_ chain: Chain) -> [String: Any] {
        var object = summary(chain)
        let critical = Set(chain.criticalPath)
        object["criticalPath"] = chain.criticalPath
        object["hops"] = chain.hops.enumerated().map { index, hop in hopObject(hop, onCriticalPath: critical.contains(index)) }
        object["missing"] = chain.missing.map(missingObject)
        return object
    }

    static func hopObject(_ hop: Hop, onCriticalPath: Bool) -> [String: Any] {
        [
            "producer": [
                "traceID": hop.producer.traceID.hex, "spanID": hop.producer.spanID.hex,
                "received": hop.producerReceived, "service": hop.producerService ?? NSNull(),
                "startTimeUnixNano": hop.producerStartUnixNano.map { Int(clamping: $0) } ?? NSNull(),
                "endTimeUnixNano": hop.producerEndUnixNano.map { Int(clamping: $0) } ?? NSNull(), "error": hop.producerError,
            ] as [String: Any],
            "topic": hop.topic ?? NSNull(),
            "partition": hop.partition.map { Int($0) } ?? NSNull(),
            "offset": hop.offset.map { Int($0) } ?? NSNull(),
            "messageID": hop.messageID ?? NSNull(),
            "deadLetter": hop.isDeadLetter,
            "fanOut": hop.isFanOut,
            "retries": hop.retries,
            "duplicatesSkipped": hop.duplicatesSkipped,
            "errorCount": hop.errorCount,
            "onCriticalPath": onCriticalPath,
            "deliveries": hop.deliveries.map { delivery -> [String: Any] in
                [
                    "traceID": delivery.consumer.traceID.hex, "spanID": delivery.consumer.spanID.hex,
                    "service": delivery.service ?? NSNull(), "consumerGroup": delivery.consumerGroup ?? NSNull(),
                    "startTimeUnixNano": Int(clamping: delivery.startUnixNano), "endTimeUnixNano": Int(clamping: delivery.endUnixNano),
                    "queueWaitNanos": delivery.queueWaitNanos.map { Int($0) } ?? NSNull(), "attempt": delivery.attempt,
                    "error": delivery.isError, "duplicateSkipped": delivery.duplicateSkipped,
                ]
            },
        ]
    }

    static func missingObject(_ part: MissingPart) -> [String: Any] {
        switch part {
        case .unconsumedMessage(let producer, let topic):
            return ["kind": "unconsumed_message", "producer": reference(producer), "topic": topic ?? NSNull()]
        case .orphanLink(let consumer, let target):
            return ["kind": "orphan_link", "consumer": reference(consumer), "target": reference(target)]
        }
    }

    static func reference(_ span: SpanRef) -> [String: Any] {
        ["traceID": span.traceID.hex, "spanID": span.spanID.hex]
    }

    /// The object as JSON text, keys sorted. Written here rather than by
    /// `JSONSerialization`: the store writes every finalized chain, and bridging the
    /// dictionaries to `NSDictionary` and sorting their keys with `NSString.compare` made
    /// that serialization the largest cost of a collector with the stitcher on (about 30 %
    /// of its CPU in `causeway bench ingest`). Takes what `summary` and `detail` build:
    /// strings, integers, booleans, `NSNull`, and arrays and dictionaries of them.
    static func data(_ object: [String: Any]) throws -> Data {
        var writer = JSONText()
        try writer.write(object)
        return Data(writer.bytes)
    }
}

extension ChainJSON {
    /// `data(detail(chain))`, written straight from the chain with no dictionary in
    /// between: the store writes this for every finalized chain, and building and
    /// type-casting the dictionaries was most of the stitcher's share of the collector's
    /// CPU. Keys in the same (sorted) order; a test holds the two equal.
    static func detailData(_ chain: Chain) -> Data {
        var json = JSONText()
        json.open("chainID"); json.write(id: chain.id.traceID)
        json.key("correlationID"); json.write(orNull: chain.correlationID)
        json.key("criticalPath"); json.writeArray(chain.criticalPath) { $0.write(int: $1) }
        json.key("deadLetterHops"); json.write(int: chain.deadLetterHops)
        json.key("duplicatesSkipped"); json.write(int: chain.duplicatesSkipped)
        json.key("endTimeUnixNano"); json.write(int: Int(clamping: chain.endUnixNano))
        json.key("endToEndNanos"); json.write(int: Int(clamping: chain.endToEndNanos))
        json.key("errorCount"); json.write(int: chain.errorCount)
        json.key("fanOutHops"); json.write(int: chain.fanOutHops)
        json.key("finalizedEarly"); json.write(bool: chain.finalizedEarly)
        json.key("hopCount"); json.write(int: chain.hops.count)
        json.key("hops")
        let critical = Set(chain.criticalPath)
        json.writeArray(Array(chain.hops.enumerated())) { json, element in
            writeHop(element.element, onCriticalPath: critical.contains(element.offset), into: &json)
        }
        json.key("missing"); json.writeArray(chain.missing) { writeMissing($1, into: &$0) }
        json.key("missingCount"); json.write(int: chain.missing.count)
        json.key("open"); json.write(bool: chain.isOpen)
        json.key("retries"); json.write(int: chain.retries)
        json.key("revision"); json.write(int: chain.revision)
        json.key("rootOperation"); json.write(orNull: chain.rootOperation)
        json.key("rootService"); json.write(orNull: chain.rootService)
        json.key("spanCount"); json.write(int: chain.spans.count)
        json.key("startTimeUnixNano"); json.write(int: Int(clamping: chain.startUnixNano))
        json.key("status"); json.write(string: chain.status.rawValue)
        json.key("traceIDs"); json.writeArray(chain.traceIDs) { $0.write(id: $1) }
        json.close()
        return Data(json.bytes)
    }

    private static func writeHop(_ hop: Hop, onCriticalPath: Bool, into json: inout JSONText) {
        json.open("deadLetter"); json.write(bool: hop.isDeadLetter)
        json.key("deliveries")
        json.writeArray(hop.deliveries) { json, delivery in
            json.open("attempt"); json.write(int: delivery.attempt)
            json.key("consumerGroup"); json.write(orNull: delivery.consumerGroup)
            json.key("duplicateSkipped"); json.write(bool: delivery.duplicateSkipped)
            json.key("endTimeUnixNano"); json.write(int: Int(clamping: delivery.endUnixNano))
            json.key("error"); json.write(bool: delivery.isError)
            json.key("queueWaitNanos"); json.write(orNull: delivery.queueWaitNanos.map { Int($0) })
            json.key("service"); json.write(orNull: delivery.service)
            json.key("spanID"); json.write(id: delivery.consumer.spanID)
            json.key("startTimeUnixNano"); json.write(int: Int(clamping: delivery.startUnixNano))
            json.key("traceID"); json.write(id: delivery.consumer.traceID)
            json.close()
        }
        json.key("duplicatesSkipped"); json.write(int: hop.duplicatesSkipped)
        json.key("errorCount"); json.write(int: hop.errorCount)
        json.key("fanOut"); json.write(bool: hop.isFanOut)
        json.key("messageID"); json.write(orNull: hop.messageID)
        json.key("offset"); json.write(orNull: hop.offset.map { Int($0) })
        json.key("onCriticalPath"); json.write(bool: onCriticalPath)
        json.key("partition"); json.write(orNull: hop.partition.map { Int($0) })
        json.key("producer")
        json.open("endTimeUnixNano"); json.write(orNull: hop.producerEndUnixNano.map { Int(clamping: $0) })
        json.key("error"); json.write(bool: hop.producerError)
        json.key("received"); json.write(bool: hop.producerReceived)
        json.key("service"); json.write(orNull: hop.producerService)
        json.key("spanID"); json.write(id: hop.producer.spanID)
        json.key("startTimeUnixNano"); json.write(orNull: hop.producerStartUnixNano.map { Int(clamping: $0) })
        json.key("traceID"); json.write(id: hop.producer.traceID)
        json.close()
        json.key("retries"); json.write(int: hop.retries)
        json.key("topic"); json.write(orNull: hop.topic)
        json.close()
    }

    private static func writeMissing(_ part: MissingPart, into json: inout JSONText) {
        switch part {
        case .unconsumedMessage(let producer, let topic):
            json.open("kind"); json.write(string: "unconsumed_message")
            json.key("producer"); writeReference(producer, into: &json)
            json.key("topic"); json.write(orNull: topic)
        case .orphanLink(let consumer, let target):
            json.open("consumer"); writeReference(consumer, into: &json)
            json.key("kind"); json.write(string: "orphan_link")
            json.key("target"); writeReference(target, into: &json)
        }
        json.close()
    }

    private static func writeReference(_ span: SpanRef, into json: inout JSONText) {
        json.open("spanID"); json.write(id: span.spanID)
        json.key("traceID"); json.write(id: span.traceID)
        json.close()
    }
}

/// A value `ChainJSON.data` cannot write.
struct ChainJSONUnsupportedValue: Error, CustomStringConvertible {
    var type: String
    var description: String { "cannot write a value of type \(type) as chain JSON" }
}

struct JSONText {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(2048) }

    mutating func write(_ value: Any) throws {
        switch value {
        case let text as String: write(string: text)
        case let number as Int: write(int: number)
        case let flag as Bool: bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        case let object as [String: Any]: try write(object)
        case let objects as [[String: Any]]: try writeArray(objects) { try $0.write($1) }
        case let texts as [String]: try writeArray(texts) { $0.write(string: $1) }
        case let numbers as [Int]: writeArray(numbers) { $0.write(int: $1) }
        case let values as [Any]: try writeArray(values) { try $0.write($1) }
        case is NSNull: bytes.append(contentsOf: "null".utf8)
        case let number as Int64: bytes.append(contentsOf: String(number).utf8)
        case let number as UInt64: bytes.append(contentsOf: String(number).utf8)
        case let number as Int32: bytes.append(contentsOf: String(number).utf8)
        case let number as Double where number.isFinite: bytes.append(contentsOf: "\(number)".utf8)
        default: throw ChainJSONUnsupportedValue(type: String(describing: Swift.type(of: value)))
        }
    }

    mutating func write(_ object: [String: Any]) throws {
        bytes.append(UInt8(ascii: "{"))
        var first = true
        for key in object.keys.sorted() {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            write(string: key)
            bytes.append(UInt8(ascii: ":"))
            try write(object[key]!)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func writeArray<Element>(_ elements: [Element], _ writeElement: (inout JSONText, Element) throws -> Void) rethrows {
        bytes.append(UInt8(ascii: "["))
        for (position, element) in elements.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            try writeElement(&self, element)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    // Typed pieces for writers that know their fields (`ChainJSON.detailData`).

    /// Starts an object with its first key (a literal, so nothing in it needs escaping).
    mutating func open(_ firstKey: StaticString) {
        bytes.append(UInt8(ascii: "{"))
        writeKey(firstKey)
    }

    /// Starts the next key of an object.
    mutating func key(_ name: StaticString) {
        bytes.append(UInt8(ascii: ","))
        writeKey(name)
    }

    private mutating func writeKey(_ name: StaticString) {
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func close() { bytes.append(UInt8(ascii: "}")) }

    /// Decimal digits, written in place (`String(int)` allocated a string per number).
    mutating func write(int: Int) {
        if int < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = int.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for all 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var position = buffer.count
            repeat {
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }

    /// The 32 or 16 lowercase hex digits of an ID, quoted.
    mutating func write(id traceID: TraceID) {
        bytes.append(UInt8(ascii: "\""))
        appendHex(traceID.high)
        appendHex(traceID.low)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func write(id spanID: SpanID) {
        bytes.append(UInt8(ascii: "\""))
        appendHex(spanID.value)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendHex(_ word: UInt64) {
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { digits in
            for shift in stride(from: 60, through: 0, by: -4) { bytes.append(digits[Int(word >> UInt64(shift) & 0xF)]) }
        }
    }

    mutating func write(bool: Bool) { bytes.append(contentsOf: (bool ? "true" : "false").utf8) }

    mutating func write(orNull text: String?) {
        if let text { write(string: text) } else { bytes.append(contentsOf: "null".utf8) }
    }

    mutating func write(orNull number: Int?) {
        if let number { write(int: number) } else { bytes.append(contentsOf: "null".utf8) }
    }

    /// RFC 8259 §7: quotation mark, reverse solidus and control characters are escaped.
    mutating func write(string: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most names need no escape: then they are copied whole.
        var string = string
        let plain = string.withUTF8 { utf8 in
            guard !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            bytes.append(contentsOf: utf8)
            return true
        }
        if !plain { writeEscaped(string) }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func writeEscaped(_ string: String) {
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
    }
}
