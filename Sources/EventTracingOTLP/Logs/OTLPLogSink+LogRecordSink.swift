public import EventTracing
import Logging
import Telemetry

extension OTLPLogSink: LogRecordSink {
    /// The label of the SDK's own logger. Its records are not exported: an export that
    /// fails logs an error, and exporting that error would feed the failure back into
    /// the next export.
    static let ownLoggerLabel = "causeway.otlp"

    /// Takes a record from EventTracing's `JSONLogHandler`, so that the same records go
    /// out as JSON lines and as OTLP log records:
    /// `JSONLogHandler(label: label, serviceName: name, recordSink: otel.logs)`.
    public func emit(_ record: StructuredLogRecord) {
        guard processor != nil, record.label != Self.ownLoggerLabel else { return }
        emit(Self.logRecord(record), context: nil)
    }

    /// The OTLP log record of a structured record: the swift-log level as severity (OTel
    /// logs data model, "Mapping of SeverityNumber"), the message as body, the metadata as
    /// attributes, with the logger's label, the correlation ID, the error and the code
    /// location under their semantic-convention names.
    static func logRecord(_ record: StructuredLogRecord) -> LogRecord {
        var attributes: [KeyValue] = []
        attributes.reserveCapacity(record.metadata.count + 4)
        for (key, value) in record.metadata.sorted(by: { $0.key < $1.key }) {
            attributes.append(KeyValue(key, anyValue(value)))
        }
        attributes.append(KeyValue("logger.name", .string(record.label)))
        if let correlationID = record.correlationID {
            attributes.append(KeyValue("correlation.id", .string(correlationID.rawValue)))
        }
        if let error = record.error {
            // Semantic conventions, "Exceptions in logs".
            attributes.append(KeyValue("exception.type", .string(String(reflecting: type(of: error)))))
            attributes.append(KeyValue("exception.message", .string(String(describing: error))))
        }
        if !record.file.isEmpty {
            attributes.append(KeyValue("code.file.path", .string(record.file)))
            attributes.append(KeyValue("code.function.name", .string(record.function)))
            attributes.append(KeyValue("code.line.number", .int(Int64(record.line))))
        }
        let (severity, text) = severity(record.level)
        return LogRecord(
            timeUnixNano: record.timestampNanoseconds,
            observedTimeUnixNano: record.timestampNanoseconds,
            severityNumber: severity,
            severityText: text,
            body: .string(record.message),
            attributes: attributes,
            flags: UInt32(record.traceFlags?.rawValue ?? 0),
            traceID: record.traceID.map { TraceID(high: $0.high, low: $0.low) },
            spanID: record.spanID.map { SpanID($0.value) }
        )
    }

    /// swift-log has seven levels; `notice` sits between INFO and WARN, so it is INFO2,
    /// and `critical` is FATAL.
    static func severity(_ level: Logger.Level) -> (SeverityNumber, String) {
        switch level {
        case .trace: (.trace, "TRACE")
        case .debug: (.debug, "DEBUG")
        case .info: (.info, "INFO")
        case .notice: (SeverityNumber(rawValue: 10), "NOTICE")
        case .warning: (.warn, "WARN")
        case .error: (.error, "ERROR")
        case .critical: (.fatal, "CRITICAL")
        }
    }

    static func anyValue(_ value: Logger.MetadataValue) -> AnyValue {
        switch value {
        case .string(let string): .string(string)
        case .stringConvertible(let convertible): .string(String(describing: convertible))
        case .array(let values): .array(values.map(anyValue))
        case .dictionary(let dictionary):
            .keyValueList(dictionary.sorted { $0.key < $1.key }.map { KeyValue($0.key, anyValue($0.value)) })
        }
    }
}
