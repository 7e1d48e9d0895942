/// The spans of one resource (`ResourceSpans`).
public struct ResourceSpans: Hashable, Sendable {
    /// `nil` when the sender omitted the resource.
    public var resource: Resource?
    public var scopeSpans: [ScopeSpans]
    public var schemaURL: String

    public init(resource: Resource? = nil, scopeSpans: [ScopeSpans] = [], schemaURL: String = "") {
        self.resource = resource
        self.scopeSpans = scopeSpans
        self.schemaURL = schemaURL
    }
}

/// The spans of one instrumentation scope (`ScopeSpans`).
public struct ScopeSpans: Hashable, Sendable {
    public var scope: InstrumentationScope?
    public var spans: [Span]
    public var schemaURL: String

    public init(scope: InstrumentationScope? = nil, spans: [Span] = [], schemaURL: String = "") {
        self.scope = scope
        self.spans = spans
        self.schemaURL = schemaURL
    }
}

/// The body of `POST /v1/traces` (`ExportTraceServiceRequest`).
public struct ExportTraceServiceRequest: Hashable, Sendable {
    /// Changing the spans forgets their received bytes, which describe them as decoded.
    /// (`_modify` rather than `didSet`, which would copy the whole array on every change
    /// made in place to one span.) The spans of a request whose attributes were skimmed
    /// are incomplete, and changing them would lose what they lack: call
    /// `decodeSkimmedAttributes()` first.
    public var resourceSpans: [ResourceSpans] {
        get { spans }
        set {
            precondition(!attributesSkimmed, "changing the spans of a request whose attributes were skimmed")
            receivedSpans = nil
            spans = newValue
        }
        _modify {
            precondition(!attributesSkimmed, "changing the spans of a request whose attributes were skimmed")
            receivedSpans = nil
            yield &spans
        }
    }

    /// Whether the decode validated the spans' and links' attributes and the spans' events
    /// without building them, but for those its `AttributeSkim` keeps
    /// (`init(protobuf:keepingSpanBytes:skimming:)`): the spans have no others, and
    /// `receivedProtobuf` holds them all.
    public var attributesSkimmed: Bool { receivedSpans?.attributesSkimmed ?? false }

    private var spans: [ResourceSpans]

    /// The protobuf each span was decoded from, when the decode was asked to keep it
    /// (`init(protobuf:keepingSpanBytes:)`) and the spans are unchanged since. Not part of
    /// the request's value: two requests with the same spans are equal either way.
    public internal(set) var receivedSpans: ReceivedSpanBytes?

    public init(resourceSpans: [ResourceSpans] = []) {
        self.spans = resourceSpans
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.resourceSpans == rhs.resourceSpans }

    public func hash(into hasher: inout Hasher) { hasher.combine(resourceSpans) }

    /// How many spans the request holds.
    public var spanCount: Int {
        resourceSpans.reduce(0) { total, rs in
            rs.scopeSpans.reduce(total) { $0 + $1.spans.count }
        }
    }
}

/// What part of an export the server refused (`ExportTracePartialSuccess`).
public struct ExportTracePartialSuccess: Hashable, Sendable {
    public var rejectedSpans: Int64
    public var errorMessage: String

    public init(rejectedSpans: Int64 = 0, errorMessage: String = "") {
        self.rejectedSpans = rejectedSpans
        self.errorMessage = errorMessage
    }
}

/// The answer to `POST /v1/traces` (`ExportTraceServiceResponse`).
public struct ExportTraceServiceResponse: Hashable, Sendable {
    /// `nil` when everything was accepted.
    public var partialSuccess: ExportTracePartialSuccess?

    public init(partialSuccess: ExportTracePartialSuccess? = nil) {
        self.partialSuccess = partialSuccess
    }
}

/// The log records of one resource (`ResourceLogs`).
public struct ResourceLogs: Hashable, Sendable {
    public var resource: Resource?
    public var scopeLogs: [ScopeLogs]
    public var schemaURL: String

    public init(resource: Resource? = nil, scopeLogs: [ScopeLogs] = [], schemaURL: String = "") {
        self.resource = resource
        self.scopeLogs = scopeLogs
        self.schemaURL = schemaURL
    }
}

/// The log records of one instrumentation scope (`ScopeLogs`).
public struct ScopeLogs: Hashable, Sendable {
    public var scope: InstrumentationScope?
    public var logRecords: [LogRecord]
    public var schemaURL: String

    public init(scope: InstrumentationScope? = nil, logRecords: [LogRecord] = [], schemaURL: String = "") {
        self.scope = scope
        self.logRecords = logRecords
        self.schemaURL = schemaURL
    }
}

/// The body of `POST /v1/logs` (`ExportLogsServiceRequest`).
public struct ExportLogsServiceRequest: Hashable, Sendable {
    public var resourceLogs: [ResourceLogs]

    public init(resourceLogs: [ResourceLogs] = []) {
        self.resourceLogs = resourceLogs
    }

    /// How many log records the request holds.
    public var logRecordCount: Int {
        resourceLogs.reduce(0) { total, rl in
            rl.scopeLogs.reduce(total) { $0 + $1.logRecords.count }
        }
    }
}

/// What part of a log export the server refused (`ExportLogsPartialSuccess`).
public struct ExportLogsPartialSuccess: Hashable, Sendable {
    public var rejectedLogRecords: Int64
    public var errorMessage: String

    public init(rejectedLogRecords: Int64 = 0, errorMessage: String = "") {
        self.rejectedLogRecords = rejectedLogRecords
        self.errorMessage = errorMessage
    }
}

/// The answer to `POST /v1/logs` (`ExportLogsServiceResponse`).
public struct ExportLogsServiceResponse: Hashable, Sendable {
    public var partialSuccess: ExportLogsPartialSuccess?

    public init(partialSuccess: ExportLogsPartialSuccess? = nil) {
        self.partialSuccess = partialSuccess
    }
}

/// `google.protobuf.Any`: a type URL and the serialized message it names.
public struct ProtobufAny: Hashable, Sendable {
    public var typeURL: String
    public var value: [UInt8]

    public init(typeURL: String, value: [UInt8]) {
        self.typeURL = typeURL
        self.value = value
    }
}

/// `google.rpc.Status`: the body of every OTLP/HTTP error response.
public struct RPCStatus: Hashable, Sendable, Error {
    /// A `google.rpc.Code` (3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE, …).
    public var code: Int32
    public var message: String
    public var details: [ProtobufAny]

    public init(code: Int32, message: String, details: [ProtobufAny] = []) {
        self.code = code
        self.message = message
        self.details = details
    }
}
