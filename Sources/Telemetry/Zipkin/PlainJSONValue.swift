/// Plain JSON values read back into `AnyValue`s: the inverse of `JSONWriter.plainValue`,
/// for the JSON that the Zipkin mapping embeds in annotation values and link tags.
///
/// Numbers without a fraction or exponent become `.int` when they fit an Int64, others
/// `.double` (the writer prints every double with a `.` or an exponent, so types survive
/// a round trip); `null` becomes `.empty`, objects become key-value lists.
enum PlainJSONValue {
    static func read(_ reader: inout JSONReader, depth: Int = 0) throws(TelemetryDecodingError) -> AnyValue {
        switch try reader.peek() {
        case .string:
            return .string(try reader.readString())
        case .bool:
            return .bool(try reader.readBool())
        case .null:
            _ = try reader.readNull()
            return .empty
        case .number:
            let parts = try JSONReader.scanNumber(
                reader.input, from: reader.offset, end: reader.input.count, reportingFrom: 0)
            if !parts.hasFractionOrExponent, let value = try? reader.readInt64() {
                return .int(value)
            }
            return .double(try reader.readDouble())
        case .array:
            guard depth < DecodingLimits.maxAnyValueDepth else { throw tooDeep }
            try reader.beginArray()
            var values: [AnyValue] = []
            while try reader.nextElement() {
                values.append(try read(&reader, depth: depth + 1))
            }
            return .array(values)
        case .object:
            guard depth < DecodingLimits.maxAnyValueDepth else { throw tooDeep }
            return .keyValueList(try readMembers(&reader, depth: depth + 1))
        }
    }

    static func readMembers(_ reader: inout JSONReader, depth: Int = 0) throws(TelemetryDecodingError) -> [KeyValue] {
        try reader.beginObject()
        var pairs: [KeyValue] = []
        while let key = try reader.nextKey() {
            let name = key.string
            pairs.append(KeyValue(name, try read(&reader, depth: depth)))
        }
        return pairs
    }

    /// The members of `text` when it is exactly one JSON object, else `nil`.
    static func object(_ text: String) -> [KeyValue]? {
        try? JSONReader.read(Array(text.utf8)) { (reader) throws(TelemetryDecodingError) -> [KeyValue] in
            let pairs = try readMembers(&reader)
            try reader.expectEnd()
            return pairs
        }
    }

    private static var tooDeep: TelemetryDecodingError {
        TelemetryDecodingError(reason: "values nested deeper than \(DecodingLimits.maxAnyValueDepth) levels")
    }
}
