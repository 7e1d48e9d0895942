package import Telemetry

/// A chain's identity: the trace ID of its root span (the earliest-starting span that has
/// neither a received parent nor a link to a received span). It is also the trace ID the
/// stitched export gives the whole chain.
package struct ChainID: Hashable, Comparable, Sendable, CustomStringConvertible {
    package var traceID: TraceID
    package init(_ traceID: TraceID) { self.traceID = traceID }
    package var description: String { traceID.hex }
    package static func < (lhs: ChainID, rhs: ChainID) -> Bool { lhs.traceID < rhs.traceID }
}

/// A chain as it was emitted, by what finds its stored row: its ID and its start then.
/// Chain IDs are random trace IDs, and an index on them dirtied a page of its own per chain
/// stored (see `TelemetryStore.registerChainTracesDropMigration`); the start is indexed in
/// the order chains are stored.
package struct EmittedChain: Hashable, Comparable, Sendable {
    package var id: ChainID
    package var startUnixNano: UInt64
    package static func < (lhs: EmittedChain, rhs: EmittedChain) -> Bool { (lhs.id, lhs.startUnixNano) < (rhs.id, rhs.startUnixNano) }
}

/// Names one span across traces.
package struct SpanRef: Hashable, Sendable, CustomStringConvertible {
    package var traceID: TraceID
    package var spanID: SpanID
    package init(traceID: TraceID, spanID: SpanID) {
        self.traceID = traceID
        self.spanID = spanID
    }
    package var description: String { traceID.hex + "/" + spanID.hex }
}

/// One status per chain, for filtering; the first that applies in this order wins:
/// `in_progress` (still open, or finalized early while a message was still inside its
/// consume window), `has_missing_hops`, `has_dead_letters`, `has_errors`, `complete`.
/// The counts on `Chain` say whether several apply.
package enum ChainStatus: String, Hashable, Sendable, CaseIterable {
    case complete
    case inProgress = "in_progress"
    case hasErrors = "has_errors"
    case hasDeadLetters = "has_dead_letters"
    case hasMissingHops = "has_missing_hops"
}

/// One consumer span processing the message a hop's producer sent.
package struct Delivery: Hashable, Sendable {
    package var consumer: SpanRef
    package var service: String?
    package var consumerGroup: String?
    package var startUnixNano: UInt64
    package var endUnixNano: UInt64
    /// Consumer start minus the message timestamp when the span carries one, else minus
    /// the producer's end; `nil` when neither is known (orphan link). Negative under clock skew.
    package var queueWaitNanos: Int64?
    /// 1 for the first processing of this message by this group, 2 for the first retry…
    /// Deliveries skipped as duplicates are not numbered (0).
    package var attempt: Int
    package var isError: Bool
    package var duplicateSkipped: Bool
}

/// A message hop: the producer span and the consumer spans that link to it or are its
/// children.
package struct Hop: Hashable, Sendable {
    package var producer: SpanRef
    /// False when consumers link to a span the collector never received.
    package var producerReceived: Bool
    package var producerService: String?
    package var topic: String?
    package var partition: Int32?
    package var offset: Int64?
    package var messageID: String?
    package var producerStartUnixNano: UInt64?
    package var producerEndUnixNano: UInt64?
    package var producerError: Bool
    package var deliveries: [Delivery]
    package var isDeadLetter: Bool

    /// Distinct consumer groups that received the message; more than one is a fan-out.
    package var consumerGroupCount: Int {
        // A hop has a handful of deliveries: comparing is cheaper than hashing into a set.
        deliveries.indices.count { index in
            !deliveries[..<index].contains { $0.consumerGroup == deliveries[index].consumerGroup }
        }
    }
    package var isFanOut: Bool {
        guard let first = deliveries.first else { return false }
        return deliveries.contains { $0.consumerGroup != first.consumerGroup }
    }
    package var retries: Int { deliveries.count { $0.attempt > 1 } }
    package var duplicatesSkipped: Int { deliveries.count(where: \.duplicateSkipped) }
    package var errorCount: Int { (producerError ? 1 : 0) + deliveries.count(where: \.isError) }
}

/// Something a chain should have and does not.
package enum MissingPart: Hashable, Sendable {
    /// A message sent on a topic that expects consumers, not processed within the topic's window.
    case unconsumedMessage(producer: SpanRef, topic: String?)
    /// A consumer linking to a span the collector never received (an uninstrumented producer).
    case orphanLink(consumer: SpanRef, target: SpanRef)
}

/// A causality chain: the connected component of spans over parent edges and span links,
/// across trace IDs, with the figures of its message hops.
package struct Chain: Hashable, Sendable {
    package var id: ChainID
    /// Chain IDs this chain was emitted under before (its root changed, or chains merged);
    /// the store replaces them with this one.
    package var supersedes: [ChainID]
    /// The chains emitted before whose stored rows this one replaces: its own earlier
    /// revision and the chains it absorbed. Empty on a first revision that absorbed nothing.
    package var replaces: [EmittedChain] = []
    /// 1 on first finalization, incremented each time a re-opened chain is finalized again.
    package var revision: Int
    package var isOpen: Bool
    /// Finalized before its idle window because the stitcher hit its memory bounds.
    package var finalizedEarly: Bool
    package var correlationID: String?
    package var status: ChainStatus
    package var rootService: String?
    package var rootOperation: String?
    /// The received spans, earliest start first.
    package var spans: [SpanRef]
    package var traceIDs: [TraceID]
    /// The services of the received spans, sorted.
    package var services: [String]
    package var startUnixNano: UInt64
    package var endUnixNano: UInt64
    /// Hops in causal order (producer start).
    package var hops: [Hop]
    /// Indices into `hops` of the hops on the path to the last-ending span.
    package var criticalPath: [Int]
    package var errorCount: Int
    package var missing: [MissingPart]

    package var endToEndNanos: UInt64 { endUnixNano >= startUnixNano ? endUnixNano - startUnixNano : 0 }
    package var fanOutHops: Int { hops.count(where: \.isFanOut) }
    package var retries: Int { hops.reduce(0) { $0 + $1.retries } }
    package var deadLetterHops: Int { hops.count(where: \.isDeadLetter) }
    package var duplicatesSkipped: Int { hops.reduce(0) { $0 + $1.duplicatesSkipped } }
}

/// What the stitcher did that a user should know about (exported as metrics by the collector).
package struct StitcherCounters: Hashable, Sendable {
    package var spansIngested = 0
    package var chainsFinalized = 0
    package var chainsReopened = 0
    /// Chains finalized before their idle window because open chains or spans hit their maximum.
    package var chainsFinalizedEarly = 0
    /// Finalized chains forgotten before their retention because retained spans hit their maximum.
    package var retainedChainsDroppedEarly = 0
    /// Spans received again with an ID already seen; the first copy is kept.
    package var repeatedSpans = 0
    /// Spans with an all-zero trace or span ID, which the OTLP spec calls invalid; not stitched.
    package var invalidSpans = 0
    /// Chains an earlier run stored, taken back at start (`ChainStitcher.restore`).
    package var chainsRestored = 0
}
