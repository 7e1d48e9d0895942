import CoreMetrics
import Metrics
import Synchronization

/// An exporter's metrics, each labelled `exporter="<name>"` (the collector bootstraps
/// the Prometheus backend and serves them on `/metrics`).
///
/// `failed` counts failed requests (every attempt that did not deliver), `retried` the
/// retries scheduled, `dropped` the batches given up (a permanent error, retries past
/// `max_elapsed_time`, or a record damaged on disk), `refused` the batches the full queue
/// would not take.
struct ExporterMetrics: Sendable {
    let sentSpans: Counter
    let sentLogs: Counter
    let failed: Counter
    let retried: Counter
    let dropped: Counter
    let refused: Counter
    let queueLength: Gauge
    let queueBytes: Gauge
    /// 1 while the queue refuses batches, 0 otherwise.
    let queueFull: Gauge
    /// The same counts, kept where tests and logs can read them without a metrics backend.
    let tally = Tally()

    /// Metrics from `factory`, or from the bootstrapped backend when it is `nil`.
    init(exporter: String, factory: (any MetricsFactory)? = nil) {
        let factory = factory ?? MetricsSystem.factory
        let dimensions = [("exporter", exporter)]
        sentSpans = Counter(label: "causeway_exporter_sent_spans_total", dimensions: dimensions, factory: factory)
        sentLogs = Counter(label: "causeway_exporter_sent_logs_total", dimensions: dimensions, factory: factory)
        failed = Counter(label: "causeway_exporter_failed_total", dimensions: dimensions, factory: factory)
        retried = Counter(label: "causeway_exporter_retried_total", dimensions: dimensions, factory: factory)
        dropped = Counter(label: "causeway_exporter_dropped_total", dimensions: dimensions, factory: factory)
        refused = Counter(label: "causeway_exporter_refused_total", dimensions: dimensions, factory: factory)
        queueLength = Gauge(label: "causeway_exporter_queue_length", dimensions: dimensions, factory: factory)
        queueBytes = Gauge(label: "causeway_exporter_queue_bytes", dimensions: dimensions, factory: factory)
        queueFull = Gauge(label: "causeway_exporter_queue_full", dimensions: dimensions, factory: factory)
    }

    /// Counts since the exporter was made.
    struct Counts: Sendable, Equatable {
        var sentSpans = 0
        var sentLogs = 0
        var sentBatches = 0
        var failed = 0
        var retried = 0
        var dropped = 0
    }

    final class Tally: Sendable {
        private let counts = Mutex(Counts())

        func update(_ change: (inout Counts) -> Void) {
            counts.withLock { change(&$0) }
        }

        var snapshot: Counts { counts.withLock { $0 } }
    }
}
