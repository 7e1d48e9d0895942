import KafkaWire

/// Per producer and partition, the last batches appended, so that a retried batch is
/// acknowledged without a second append and a gap in sequences is refused (KIP-98).
struct ProducerState {
    struct Appended {
        var baseSequence: Int32
        var lastSequence: Int32
        var baseOffset: Int64
    }

    /// Kafka keeps the metadata of the last five batches: a producer has at most five in
    /// flight when idempotent.
    static let remembered = 5

    var epoch: Int16
    var recent: [Appended] = []

    enum Verdict: Equatable {
        case append
        case duplicate(baseOffset: Int64)
        case outOfOrder(expected: Int32)
        case fencedEpoch
    }

    func check(_ batch: RecordBatch) -> Verdict {
        if batch.producerEpoch < epoch { return .fencedEpoch }
        if batch.producerEpoch > epoch { return batch.baseSequence == 0 ? .append : .outOfOrder(expected: 0) }
        if let seen = recent.first(where: { $0.baseSequence == batch.baseSequence }) {
            return .duplicate(baseOffset: seen.baseOffset)
        }
        guard let last = recent.last else { return .append }
        let expected = last.lastSequence == Int32.max ? 0 : last.lastSequence + 1
        return batch.baseSequence == expected ? .append : .outOfOrder(expected: expected)
    }

    mutating func record(_ batch: RecordBatch, baseOffset: Int64) {
        if batch.producerEpoch != epoch {
            epoch = batch.producerEpoch
            recent = []
        }
        let last = Int32(truncatingIfNeeded: Int64(batch.baseSequence) + Int64(batch.lastOffsetDelta))
        recent.append(Appended(baseSequence: batch.baseSequence, lastSequence: last, baseOffset: baseOffset))
        if recent.count > Self.remembered { recent.removeFirst() }
    }
}
