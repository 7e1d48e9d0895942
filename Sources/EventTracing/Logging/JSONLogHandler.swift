public import Logging
public import Instrumentation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log `LogHandler` that writes one JSON object a line, stamped with the trace
/// context and correlation ID of the task-local `ServiceContext`:
///
/// ```json
/// {"timestamp":"2026-11-28T17:35:44.123456789Z","level":"info","message":"order placed","logger":"orders","service.name":"order-service","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","trace_flags":"03","correlation_id":"01JDQ3…","order_id":"42"}
/// ```
///
/// Members come in this order: `timestamp` (RFC 3339, UTC, nanoseconds), `level`,
/// `message`, `logger` (the label), `service.name`; `trace_id`, `span_id` and
/// `trace_flags` (2 hex digits) only inside a span context; `correlation_id` when there is
/// one; `exception.type` and `exception.message` when the call passed an error; `source`,
/// `file`, `function` and `line` when asked for; then the metadata in key order (the
/// handler's, then the metadata provider's, then the call's, later ones winning), nested
/// dictionaries and arrays as JSON objects and arrays. A metadata key that would repeat a
/// member written above is written as `metadata.<key>`.
///
/// ```swift
/// LoggingSystem.bootstrap { label in JSONLogHandler(label: label, serviceName: "order-service") }
/// ```
///
/// Each line goes out in one write, under a lock shared by every handler writing to the
/// same output, so lines from concurrent tasks never interleave.
public struct JSONLogHandler: LogHandler {
    /// Where the lines go.
    public struct Output: Sendable {
        let destination: LineDestination

        /// The process's standard output.
        public static let standardOutput = Output(destination: LineDestination(.fileDescriptor(1)))
        /// The process's standard error.
        public static let standardError = Output(destination: LineDestination(.fileDescriptor(2)))

        /// Writes each line to an open file descriptor (a log file opened for appending),
        /// in one write where the system allows, resuming after partial writes.
        public static func fileDescriptor(_ descriptor: Int32) -> Output {
            Output(destination: LineDestination(.fileDescriptor(descriptor)))
        }

        /// Hands each line, newline included, to `write`; calls are serialized.
        public init(_ write: @escaping @Sendable (_ line: [UInt8]) -> Void) {
            destination = LineDestination(.closure(write))
        }

        private init(destination: LineDestination) {
            self.destination = destination
        }
    }

    /// The logger's label, written as `logger`.
    public let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata
    public var metadataProvider: Logger.MetadataProvider?

    private let serviceName: String
    private let output: Output?
    private let recordSink: (any LogRecordSink)?
    private let includesSource: Bool
    private let includesCodeLocation: Bool
    private let clock: @Sendable () -> UInt64
    private let instrument: (any Instrument)?

    /// Creates a handler.
    ///
    /// - Parameters:
    ///   - label: The logger's label.
    ///   - serviceName: Written as `service.name` on every line.
    ///   - logLevel: The lowest level logged.
    ///   - output: Where the JSON lines go; `nil` writes none (records still reach
    ///     `recordSink`).
    ///   - recordSink: Also receives every record, to export it as an OTLP log record.
    ///   - metadataProvider: Contextual metadata added to every record.
    ///   - includesSource: Whether lines carry `source`, the logging module.
    ///   - includesCodeLocation: Whether lines carry `file`, `function` and `line`.
    ///   - clock: Nanoseconds since the Unix epoch; the system's real-time clock when `nil`.
    ///   - instrument: The tracer to ask for the current span when it keeps it under a key
    ///     of its own (swift-otel's does); the bootstrapped `InstrumentationSystem`
    ///     instrument when `nil`. Only needed with a tracer that is passed around rather
    ///     than bootstrapped.
    public init(
        label: String,
        serviceName: String,
        logLevel: Logger.Level = .info,
        output: Output? = .standardOutput,
        recordSink: (any LogRecordSink)? = nil,
        metadataProvider: Logger.MetadataProvider? = nil,
        includesSource: Bool = false,
        includesCodeLocation: Bool = false,
        clock: (@Sendable () -> UInt64)? = nil,
        instrument: (any Instrument)? = nil
    ) {
        self.label = label
        self.serviceName = serviceName
        self.logLevel = logLevel
        self.metadata = [:]
        self.metadataProvider = metadataProvider
        self.output = output
        self.recordSink = recordSink
        self.includesSource = includesSource
        self.includesCodeLocation = includesCodeLocation
        self.clock = clock ?? JSONLogHandler.realTimeNanoseconds
        self.instrument = instrument
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let record = self.record(
            of: event, in: ServiceContext.current, instrument: instrument ?? InstrumentationSystem.instrument)
        recordSink?.emit(record)
        if let output {
            output.destination.write(encode(record))
        }
    }

    /// The record of `event`, stamped from `context`; `instrument` is asked for the span
    /// when a tracer other than ours keeps it under its own key.
    func record(
        of event: LogEvent,
        in context: ServiceContext?,
        instrument: @autoclosure () -> any Instrument = NoOpInstrument()
    ) -> StructuredLogRecord {
        var merged = metadata
        if let provided = metadataProvider?.get(), !provided.isEmpty {
            merged.merge(provided, uniquingKeysWith: { _, new in new })
        }
        if let explicit = event.metadata, !explicit.isEmpty {
            // Most loggers carry no metadata of their own: then the call's is used as it is.
            if merged.isEmpty {
                merged = explicit
            } else {
                merged.merge(explicit, uniquingKeysWith: { _, new in new })
            }
        }
        let spanContext = context.flatMap { Self.spanContext(of: $0, instrument: instrument()) }
        return StructuredLogRecord(
            timestampNanoseconds: clock(),
            level: event.level,
            message: event.message.description,
            label: label,
            serviceName: serviceName,
            metadata: merged,
            traceID: spanContext?.traceID,
            spanID: spanContext?.spanID,
            traceFlags: spanContext?.flags,
            correlationID: context?.correlationID,
            error: event.error,
            source: event.source,
            file: event.file,
            function: event.function,
            line: event.line
        )
    }

    /// The span `context` is in, whichever tracer keeps it: ours under
    /// ``ServiceContext/spanContext``; any other (swift-otel's, say) read back through its
    /// own `inject` as a `traceparent`, the one form every W3C tracer can write. Only the
    /// IDs and flags matter here, so the `tracestate` is not read.
    static func spanContext(of context: ServiceContext, instrument: @autoclosure () -> any Instrument) -> SpanContext? {
        if let ours = context.spanContext { return ours }
        var fields: [(name: String, value: String)] = []
        instrument().inject(context, into: &fields, using: HTTPHeaderFieldsInjector())
        guard let value = fields.last(where: { HTTPFieldName.equal($0.name, "traceparent") })?.value,
            let parent = TraceParent(value)
        else { return nil }
        return SpanContext(traceID: parent.traceID, spanID: parent.parentID, flags: parent.flags)
    }

    /// The JSON line of `record`, newline included.
    func encode(_ record: StructuredLogRecord) -> [UInt8] {
        var line = JSONLine()
        line.beginObject()
        line.key(literal: "timestamp")
        line.rawString(count: RFC3339.length) { RFC3339.write(nanoseconds: record.timestampNanoseconds, to: $0) }
        line.key(literal: "level")
        line.string(record.level.rawValue)
        line.key(literal: "message")
        line.string(record.message)
        line.key(literal: "logger")
        line.string(record.label)
        line.key(literal: "service.name")
        line.string(record.serviceName)
        if let traceID = record.traceID {
            line.key(literal: "trace_id")
            line.rawString(count: 32) {
                Hex.write(traceID.high, to: $0, at: 0)
                Hex.write(traceID.low, to: $0, at: 16)
            }
        }
        if let spanID = record.spanID {
            line.key(literal: "span_id")
            line.rawString(count: 16) { Hex.write(spanID.value, to: $0, at: 0) }
        }
        if let flags = record.traceFlags {
            line.key(literal: "trace_flags")
            // As in `traceparent` (W3C Trace Context §3.2.2.5): two lowercase hex digits.
            line.rawString(count: 2) { Hex.write(flags.rawValue, to: $0, at: 0) }
        }
        if let correlationID = record.correlationID {
            line.key(literal: "correlation_id")
            line.string(correlationID.rawValue)
        }
        if let error = record.error {
            // The OpenTelemetry exception attributes, as on a span's exception event.
            line.key(literal: "exception.type")
            line.string(String(reflecting: type(of: error)))
            line.key(literal: "exception.message")
            line.string(String(describing: error))
        }
        if includesSource {
            line.key(literal: "source")
            line.string(record.source)
        }
        if includesCodeLocation {
            line.key(literal: "file")
            line.string(record.file)
            line.key(literal: "function")
            line.string(record.function)
            line.key(literal: "line")
            line.unsigned(UInt64(record.line))
        }
        for key in record.metadata.keys.sorted() {
            // RFC 8259 §4: names "SHOULD be unique"; a repeated one is ambiguous to readers.
            line.key(writesMember(key, of: record) ? "metadata." + key : key)
            line.metadataValue(record.metadata[key]!)
        }
        line.endObject()
        var bytes = line.bytes
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// Whether `encode` writes a member named `key` for `record` before the metadata.
    private func writesMember(_ key: String, of record: StructuredLogRecord) -> Bool {
        // Every member name starts with one of these letters; most metadata keys don't.
        switch key.utf8.first {
        case UInt8(ascii: "t"), UInt8(ascii: "l"), UInt8(ascii: "m"), UInt8(ascii: "s"), UInt8(ascii: "c"),
            UInt8(ascii: "e"), UInt8(ascii: "f"):
            break
        default:
            return false
        }
        return switch key {
        case "timestamp", "level", "message", "logger", "service.name": true
        case "trace_id": record.traceID != nil
        case "span_id": record.spanID != nil
        case "trace_flags": record.traceFlags != nil
        case "correlation_id": record.correlationID != nil
        case "exception.type", "exception.message": record.error != nil
        case "source": includesSource
        case "file", "function", "line": includesCodeLocation
        default: false
        }
    }

    /// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
    @Sendable
    static func realTimeNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}

/// A sink of whole lines that never interleaves them: one lock per destination, held
/// for the one write (or the few partial writes) of a line.
final class LineDestination: Sendable {
    enum Target: Sendable {
        case fileDescriptor(Int32)
        case closure(@Sendable ([UInt8]) -> Void)
    }

    let target: Target
    private let lock = Mutex(())

    init(_ target: Target) {
        self.target = target
    }

    func write(_ line: [UInt8]) {
        lock.withLock { _ in
            switch target {
            case .closure(let write):
                write(line)
            case .fileDescriptor(let descriptor):
                line.withUnsafeBytes { writeFully(descriptor, $0) }
            }
        }
    }
}

/// Writes all of `bytes`, resuming after partial writes and interruptions. A closed or
/// full output loses the rest of the line: logging never blocks or fails the caller.
private func writeFully(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) {
    guard var next = bytes.baseAddress else { return }
    var remaining = bytes.count
    while remaining > 0 {
        let count = write(descriptor, next, remaining)
        if count > 0 {
            next += count
            remaining -= count
        } else if count < 0, errno == EINTR {
            continue
        } else {
            return
        }
    }
}
