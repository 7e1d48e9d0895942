public import Logging

/// One log record as ``JSONLogHandler`` writes it: the swift-log event, stamped with the
/// time, the service, and the trace context and correlation ID that were current when it
/// was logged.
///
/// The fields map one to one onto an OTLP `LogRecord` (`time_unix_nano`, `severity_text`,
/// `body`, `attributes`, `trace_id`, `span_id`, `flags`), so that an exporter adopting
/// ``LogRecordSink`` can send the same records it writes as JSON lines.
public struct StructuredLogRecord: Sendable {
    /// Nanoseconds since the Unix epoch, UTC.
    public var timestampNanoseconds: UInt64
    /// The swift-log level.
    public var level: Logger.Level
    /// The rendered message.
    public var message: String
    /// The logger's label.
    public var label: String
    /// The `service.name` of the emitting service.
    public var serviceName: String
    /// The handler's metadata, then the metadata provider's, then the call's, later ones
    /// winning on equal keys.
    public var metadata: Logger.Metadata
    /// The trace of the span current when the record was logged.
    public var traceID: SpanContext.TraceID?
    /// The span current when the record was logged.
    public var spanID: SpanContext.SpanID?
    /// The flags of that span's context.
    public var traceFlags: TraceFlags?
    /// The correlation ID of the transaction the record belongs to.
    public var correlationID: CorrelationID?
    /// The error passed to the logging call, if any.
    public var error: (any Error)?
    /// The module or subsystem that logged the record.
    public var source: String
    /// The file of the logging call.
    public var file: String
    /// The function of the logging call.
    public var function: String
    /// The line of the logging call.
    public var line: UInt

    /// Creates a record.
    public init(
        timestampNanoseconds: UInt64,
        level: Logger.Level,
        message: String,
        label: String,
        serviceName: String,
        metadata: Logger.Metadata = [:],
        traceID: SpanContext.TraceID? = nil,
        spanID: SpanContext.SpanID? = nil,
        traceFlags: TraceFlags? = nil,
        correlationID: CorrelationID? = nil,
        error: (any Error)? = nil,
        source: String = "",
        file: String = "",
        function: String = "",
        line: UInt = 0
    ) {
        self.timestampNanoseconds = timestampNanoseconds
        self.level = level
        self.message = message
        self.label = label
        self.serviceName = serviceName
        self.metadata = metadata
        self.traceID = traceID
        self.spanID = spanID
        self.traceFlags = traceFlags
        self.correlationID = correlationID
        self.error = error
        self.source = source
        self.file = file
        self.function = function
        self.line = line
    }
}

/// Receives every record a ``JSONLogHandler`` logs, such as a batch processor that
/// exports them as OTLP log records.
///
/// `emit` is called synchronously on the logging thread, before the JSON line is written:
/// it must not block, and must be safe to call from many threads at once.
public protocol LogRecordSink: Sendable {
    /// Takes one record.
    func emit(_ record: StructuredLogRecord)
}
