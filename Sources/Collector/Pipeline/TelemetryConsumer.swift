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

    /// Delivers queued work until the task is cancelled or `shutdown()` finished draining.
    func run() async throws

    /// Stops taking batches and returns once everything accepted is delivered or persisted.
    func shutdown() async
}
