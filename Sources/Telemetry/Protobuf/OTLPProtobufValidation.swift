// Validation without building, for a decode that skims span attributes and events
// (`ExportTraceServiceRequest.init(protobuf:keepingSpanBytes:skimming:)`).
//
// Each function checks what its decoding twin in OTLPProtobufDecoding.swift checks, in the
// same order and naming the same path on failure, so that a request is refused alike
// whichever way it is decoded; `Tests/TelemetryTests` compares the two on broken input.
// Nothing is allocated: building the values was most of the cost of a full decode.

extension ProtobufReader {
    /// A span attribute of a skimming decode: decoded when the skim keeps its key, else
    /// validated (nil). Validated first either way: most attributes are not kept, and
    /// the key that counts is protobuf's last, which only the whole message gives.
    mutating func skimKeyValue() throws(TelemetryDecodingError) -> KeyValue? {
        var whole = self
        guard keepsAttribute(try validateKeyValue(depth: 0)) else { return nil }
        return try whole.decodeKeyValue(depth: 0)
    }

    /// Checks a `KeyValue` as `decodeKeyValue(depth:)` does; returns its key's bytes.
    @discardableResult
    mutating func validateKeyValue(depth: Int) throws(TelemetryDecodingError) -> UnsafeRawBufferPointer {
        var key = UnsafeRawBufferPointer(start: nil, count: 0)
        var field: StaticString = ""
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "key"
                    try expect(wireType, .lengthDelimited)
                    key = try validateString()
                case 2:
                    field = "value"
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    try child.validateAnyValue(depth: depth)
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field)
        }
        return key
    }

    /// Checks an `AnyValue` as `decodeAnyValue(depth:)` does.
    mutating func validateAnyValue(depth: Int) throws(TelemetryDecodingError) {
        var field: StaticString = ""
        var index = -1
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "stringValue"
                    try expect(wireType, .lengthDelimited)
                    try validateString()
                case 2, 3:
                    field = number == 2 ? "boolValue" : "intValue"
                    try expect(wireType, .varint)
                    _ = try readVarint()
                case 4:
                    field = "doubleValue"
                    try expect(wireType, .fixed64)
                    _ = try readFixed64()
                case 5, 6:
                    let isArray = number == 5
                    field = isArray ? "arrayValue" : "kvlistValue"
                    try expect(wireType, .lengthDelimited)
                    guard depth < DecodingLimits.maxAnyValueDepth else {
                        throw TelemetryDecodingError(
                            reason: "AnyValue nested more than \(DecodingLimits.maxAnyValueDepth) deep")
                    }
                    var list = try readMessage()
                    var elements = 0
                    while !list.isAtEnd {
                        let (entry, entryWireType) = try list.readTag()
                        guard entry == 1 else {
                            try list.skip(entryWireType, field: entry)
                            continue
                        }
                        try list.expect(entryWireType, .lengthDelimited)
                        var element = try list.readMessage()
                        index = elements
                        if isArray {
                            try element.validateAnyValue(depth: depth + 1)
                        } else {
                            try element.validateKeyValue(depth: depth + 1)
                        }
                        elements += 1
                        index = -1
                    }
                case 7:
                    field = "bytesValue"
                    try expect(wireType, .lengthDelimited)
                    _ = try readLengthDelimited()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            if index >= 0 {
                throw error.within("values", index: index).within(field)
            }
            throw error.within(field)
        }
    }

    /// Checks a span `Event` as `decodeEvent()` does; returns its name's bytes.
    mutating func validateEvent() throws(TelemetryDecodingError) -> UnsafeRawBufferPointer {
        var name = UnsafeRawBufferPointer(start: nil, count: 0)
        var field: StaticString = ""
        var index = -1
        var attributes = 0
        do throws(TelemetryDecodingError) {
            while !isAtEnd {
                let (number, wireType) = try readTag()
                switch number {
                case 1:
                    field = "timeUnixNano"
                    try expect(wireType, .fixed64)
                    _ = try readFixed64()
                case 2:
                    field = "name"
                    try expect(wireType, .lengthDelimited)
                    name = try validateString()
                case 3:
                    field = "attributes"
                    index = attributes
                    try expect(wireType, .lengthDelimited)
                    var child = try readMessage()
                    try child.validateKeyValue(depth: 0)
                    attributes += 1
                    index = -1
                case 4:
                    field = "droppedAttributesCount"
                    try expect(wireType, .varint)
                    _ = try readVarint()
                default:
                    try skip(wireType, field: number)
                }
                field = ""
            }
        } catch {
            throw error.within(field, index: index)
        }
        return name
    }
}
