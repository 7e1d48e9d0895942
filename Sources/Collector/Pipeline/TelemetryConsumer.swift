public import Telemetry

/// A stage that accepted telemetry flows to after the receivers: the store, each exporter,
/// and (issue 5) the chain stitcher.
///
/// The pipeline hands every consumer the same batches independently, so a slow consumer
/// never blocks ingest or the others. `consume` must therefore return quickly: a consumer
/// that needs time (an exporter talking to a remote backend) queues the batch itself —
/// durably, when it promises delivery — and works through its queue in `run()`.
package protocol TelemetryConsumer: Sendable {
    /// The name from the configuration (`otlphttp/jaeger`, `zipkin`, `store`), used in logs
    /// and metric labels.
    var name: String { get }

    /// Takes a batch of spans. Throwing means the batch was not accepted.
    func consume(_ traces: ExportTraceServiceRequest) async throws

    /// Takes a batch of log records. Throwing means the batch was not accepted.
    func consume(_ logs: ExportLogsServiceRequest) async throws

    /// Takes several batches at once, in order; by default one after the other, each on its
    /// own. A consumer with a cost per write (a transaction) takes them together. Throwing
    /// means some (the store: all) of them were not accepted.
    func consume(_ traces: [ExportTraceServiceRequest]) async throws

    /// Takes several batches of log records at once, in order; as `consume(_:)` for spans.
    func consume(_ logs: [ExportLogsServiceRequest]) async throws

    /// How long the pipeline waits, once a batch is there, for more to hand over with it
    /// (nil: no wait). For a consumer whose cost is per write rather than per span.
    var deliveryLinger: Duration? { get }

    /// The only span attributes and events `consume` reads from the decoded spans, the
    /// rest being skimmed; nil (the default) when it may read any. When every consumer of
    /// spans names what it reads, the OTLP receiver builds only that
    /// (`ExportTraceServiceRequest.attributesSkimmed`): each request's spans are whole
    /// only in its `receivedProtobuf`.
    var attributeSkim: AttributeSkim? { get }

    /// Whether `consume` queues a request received gzip-compressed as it came
    /// (`ExportTraceServiceRequest.receivedGzip`), which the OTLP receiver then keeps
    /// beside the request; by default it does not, and the receiver spares the copy.
    var forwardsReceivedGzip: Bool { get }

    /// Delivers queued work until the task is cancelled or `shutdown()` finished draining.
    func run() async throws

    /// Stops taking batches and returns once everything accepted is delivered or persisted.
    func shutdown() async
}

extension TelemetryConsumer {
    package var deliveryLinger: Duration? { nil }

    package var attributeSkim: AttributeSkim? { nil }

    package var forwardsReceivedGzip: Bool { false }

    package func consume(_ traces: [ExportTraceServiceRequest]) async throws {
        try await eachOnItsOwn(traces) { try await consume($0) }
    }

    package func consume(_ logs: [ExportLogsServiceRequest]) async throws {
        try await eachOnItsOwn(logs) { try await consume($0) }
    }

    /// Offers every batch even when an earlier one was refused, then throws the first refusal.
    private func eachOnItsOwn<Batch>(_ batches: [Batch], _ consume: (Batch) async throws -> Void) async throws {
        var firstError: (any Error)?
        for batch in batches {
            do { try await consume(batch) } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
    }
}
