/// The stitcher's settings (the collector's `stitcher:` config section).
package struct StitcherConfiguration: Sendable {
    /// A chain with no new span for this long is finalized.
    package var idleWindow: Duration = .seconds(30)
    /// How long finalized chains stay indexed so that late spans re-open the right chain.
    package var retention: Duration = .seconds(900)
    /// Bounds on open chains and open spans (placeholders included); past them the least
    /// recently active chains are finalized early. A held span costs up to about 500
    /// bytes, so the defaults keep the stitcher near 240 MiB, inside the default memory
    /// limiter.
    package var maxOpenChains = 100_000
    package var maxOpenSpans = 250_000
    /// Bound on spans kept for finalized chains within their retention.
    package var maxRetainedSpans = 250_000
    /// A produced message nobody consumed within this window (after the producer span's
    /// end) is reported missing.
    package var unconsumedWindow: Duration = .seconds(60)
    /// Per-topic overrides of `unconsumedWindow`.
    package var unconsumedWindowByTopic: [String: Duration] = [:]
    /// Topics (glob patterns, `*` wildcard) that nobody is expected to consume.
    package var topicsWithoutConsumers: [String] = []
    /// Topic name patterns (glob, `*` wildcard, case-insensitive) of dead-letter topics.
    package var deadLetterTopicPatterns = ["*.dlq", "*-dlq", "*_dlq", "dlq.*"]
    /// A span attribute (or captured header) marking a dead-lettered message: true or "true".
    package var deadLetterAttributes = ["causeway.dead_letter", "messaging.kafka.header.causeway-dead-letter"]
    /// Span event names the idempotent handler records when it skips a duplicate.
    package var duplicateSkippedEvents = ["duplicate_skipped", "causeway.duplicate_skipped"]
    /// Attributes holding the correlation ID, on the span first, then on its resource.
    package var correlationAttributes = ["messaging.message.conversation_id", "correlation.id", "correlation_id"]
    /// The record timestamp (milliseconds since the epoch, as Kafka keeps it) on a span;
    /// when present, queue wait is measured from it instead of from the producer's end.
    package var messageTimestampAttribute = "messaging.kafka.message.timestamp"

    package init() {}

    /// What a held span costs the collector with the stitcher on, at most, about. `causeway
    /// bench stitcher` measures 260-280 bytes on chains of several spans, but with a chain
    /// per span, each linking to a span never received (a placeholder), the collector at
    /// full overload held about 500 bytes a span: with 300 here its peak RSS passed the
    /// 512 MiB limit by 24-100 MiB (BENCHMARKS.md).
    package static let bytesPerHeldSpan = 500

    /// The most the stitcher's state grows to with these bounds, about.
    package var footprintBoundBytes: Int { (maxOpenSpans + maxRetainedSpans) * Self.bytesPerHeldSpan }

    func unconsumedWindowNanos(topic: String?) -> UInt64 {
        if let topic, let window = unconsumedWindowByTopic[topic] { return window.nanoseconds }
        return unconsumedWindow.nanoseconds
    }

    func expectsConsumers(topic: String?) -> Bool {
        guard let topic else { return true }
        return !topicsWithoutConsumers.contains { Glob.matches($0, topic) }
    }

    func isDeadLetterTopic(_ topic: String) -> Bool {
        deadLetterTopicPatterns.contains { Glob.matches($0.lowercased(), topic.lowercased()) }
    }
}

extension Duration {
    var nanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        guard seconds >= 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(attoseconds / 1_000_000_000)
    }
}

/// `*` matches any run of characters; everything else matches itself.
enum Glob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.utf8)
        let t = Array(text.utf8)
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if pi < p.count, p[pi] == UInt8(ascii: "*") {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == UInt8(ascii: "*") { pi += 1 }
        return pi == p.count
    }
}
