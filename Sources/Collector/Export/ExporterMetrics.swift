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

    init(exporter: String) {
        let dimensions = [("exporter", exporter)]
        sentSpans = Counter(label: "causeway_exporter_sent_spans_total", dimensions: dimensions)
        sentLogs = Counter(label: "causeway_exporter_sent_logs_total", dimensions: dimensions)
        failed = Counter(label: "causeway_exporter_failed_total", dimensions: dimensions)
        retried = Counter(label: "causeway_exporter_retried_total", dimensions: dimensions)
        dropped = Counter(label: "causeway_exporter_dropped_total", dimensions: dimensions)
        refused = Counter(label: "causeway_exporter_refused_total", dimensions: dimensions)
        queueLength = Gauge(label: "causeway_exporter_queue_length", dimensions: dimensions)
        queueBytes = Gauge(label: "causeway_exporter_queue_bytes", dimensions: dimensions)
        queueFull = Gauge(label: "causeway_exporter_queue_full", dimensions: dimensions)
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
