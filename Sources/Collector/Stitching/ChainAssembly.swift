import Telemetry

extension ChainStitcher {
    func correlation(in attributes: [KeyValue]) -> String? {
        for attribute in attributes where correlationKeys.contains(attribute.key) {
            if let text = attribute.value.text { return text }
        }
        return nil
    }

    /// Computes a chain's figures from its members. `waitUntil` is the latest end of a
    /// consume window still running for a message nobody consumed yet.
    ///
    /// It runs for every chain finalized, so it spends little per chain: maps of a few
    /// entries are searched (`SmallMap`) rather than hashed, parents are read from their
    /// nodes rather than looked up in the index, and hops are reordered only when out of
    /// order.
    func assemble(root: Int32, now: UInt64, open: Bool) -> (chain: Chain, waitUntil: UInt64?) {
        let state = chainState(ofRoot: root)
        // Locals for what the closures below read: a closure that used `self` would copy
        // the whole stitcher (a retain and release of each of its tables) for every sort
        // comparison and every call, which was a tenth of finalization's cost.
        let nodes = self.nodes
        let strings = self.strings
        let messageIDTexts = self.messageIDTexts
        let producerKind = UInt8(SpanKind.producer.rawValue)
        func messageIDText(_ slot: Int32) -> String? {
            let id = nodes[Int(slot)].messageID
            return id >= 0 ? messageIDTexts[Int(id)] : nil
        }
        /// The slot of the span's parent when the collector received it.
        func receivedParent(_ node: SpanNode) -> Int32? {
            node.parentSlot >= 0 && nodes[Int(node.parentSlot)].isReceived ? node.parentSlot : nil
        }

        var received: [Int32] = []
        received.reserveCapacity(state.spanCount)
        var slot = root
        repeat {
            if nodes[Int(slot)].isReceived { received.append(slot) }
            slot = nodes[Int(slot)].nextMember
        } while slot != root
        received.sort { (nodes[Int($0)].start, nodes[Int($0)].key.span) < (nodes[Int($1)].start, nodes[Int($1)].key.span) }

        // Hops: one per received producer, and one per unreceived link target of a consumer.
        // `hopTopics` holds each hop's interned topic, for the dead-letter decision.
        var hopOf = SmallMap<Int32, Int>()
        var hops: [Hop] = []
        var hopTopics: [Int32] = []
        // The hop of each delivering consumer, for the critical path.
        var deliveryHop = SmallMap<Int32, Int>()
        // Which message each delivery processed: its message ID's hash, else its producer slot.
        var messageOf: [(start: UInt64, hop: Int, delivery: Int, message: UInt64, group: Int32)] = []
        func hopIndex(producer: Int32) -> Int {
            if let found = hopOf[producer] { return found }
            let node = nodes[Int(producer)]
            hops.append(Hop(
                producer: node.key.ref, producerReceived: node.isReceived,
                producerService: strings[node.service], topic: strings[node.topic],
                partition: node.partition >= 0 ? node.partition : nil,
                offset: node.offset >= 0 ? node.offset : nil,
                messageID: messageIDText(producer),
                producerStartUnixNano: node.isReceived ? node.start : nil,
                producerEndUnixNano: node.isReceived ? node.end : nil,
                producerError: node.flags & SpanNode.error != 0, deliveries: [],
                isDeadLetter: node.flags & SpanNode.deadLetter != 0))
            hopTopics.append(node.topic)
            hopOf[producer] = hops.count - 1
            return hops.count - 1
        }
        for member in received where nodes[Int(member)].kind == producerKind {
            _ = hopIndex(producer: member)
        }
        var missing: [MissingPart] = []
        for member in received where nodes[Int(member)].kind == UInt8(SpanKind.consumer.rawValue) {
            let node = nodes[Int(member)]
            func deliver(from producer: Int32) {
                let h = hopIndex(producer: producer)
                let producerNode = nodes[Int(producer)]
                let sentAt: UInt64? =
                    node.messageTimestamp != 0 ? node.messageTimestamp
                    : producerNode.messageTimestamp != 0 ? producerNode.messageTimestamp
                    : producerNode.isReceived ? producerNode.end : nil
                let wait = sentAt.map { Int64(bitPattern: node.start &- $0) }
                hops[h].deliveries.append(Delivery(
                    consumer: node.key.ref, service: strings[node.service], consumerGroup: strings[node.group],
                    startUnixNano: node.start, endUnixNano: node.end, queueWaitNanos: wait, attempt: 0,
                    isError: node.flags & SpanNode.error != 0,
                    duplicateSkipped: node.flags & SpanNode.duplicateSkipped != 0))
                deliveryHop[member] = h
                let message =
                    node.hasMessageID ? StableHash.of(messageIDTexts[Int(node.messageID)])
                    : producerNode.hasMessageID ? StableHash.of(messageIDTexts[Int(producerNode.messageID)])
                    : UInt64(1) << 63 | UInt64(UInt32(bitPattern: producer))
                messageOf.append((node.start, h, hops[h].deliveries.count - 1, message, node.group))
                // Facts the producer did not record (or that only the broker knows) come from the consumer.
                if hops[h].topic == nil, node.topic >= 0 {
                    hops[h].topic = strings[node.topic]
                    hopTopics[h] = node.topic
                }
                if hops[h].partition == nil, node.partition >= 0 { hops[h].partition = node.partition }
                if hops[h].offset == nil, node.offset >= 0 { hops[h].offset = node.offset }
                if hops[h].messageID == nil { hops[h].messageID = messageIDText(member) }
                if node.flags & SpanNode.deadLetter != 0 { hops[h].isDeadLetter = true }
            }
            // A link to a producer makes a delivery; so does one to a span never received
            // (an orphan link: the hop of an uninstrumented producer).
            func deliversFrom(_ target: Int32) -> Bool {
                let targetNode = nodes[Int(target)]
                if !targetNode.isReceived {
                    missing.append(.orphanLink(consumer: node.key.ref, target: targetNode.key.ref))
                    return true
                }
                return targetNode.kind == producerKind
            }
            var linked = false
            if node.linkTarget >= 0 {
                if deliversFrom(node.linkTarget) { deliver(from: node.linkTarget); linked = true }
                for target in extraLinks[member] ?? [] where deliversFrom(target) { deliver(from: target); linked = true }
            }
            if !linked, let parent = receivedParent(node), nodes[Int(parent)].kind == producerKind {
                deliver(from: parent)
            }
        }
        for h in hops.indices where !hops[h].isDeadLetter && hopTopics[h] >= 0 {
            // Decided once per topic at ingest, for every topic a span carried.
            let topic = Int(hopTopics[h])
            if topic < deadLetterTopics.count ? deadLetterTopics[topic] == 2 : configuration.isDeadLetterTopic(strings.values[topic]) {
                hops[h].isDeadLetter = true
            }
        }

        // Attempts: deliveries of one message (same message ID, else same producer span) to one
        // group, numbered by start; skipped duplicates are not processing and get no number.
        struct Attempted: Hashable { var message: UInt64; var group: Int32 }
        var attemptsSeen = SmallMap<Attempted, Int>()
        if messageOf.count > 1 { messageOf.sort { $0.start < $1.start } }
        for (_, h, d, message, group) in messageOf where !hops[h].deliveries[d].duplicateSkipped {
            let key = Attempted(message: message, group: group)
            let attempt = (attemptsSeen[key] ?? 0) + 1
            attemptsSeen[key] = attempt
            hops[h].deliveries[d].attempt = attempt
        }

        // Unconsumed messages. A dead letter is parked, not lost: it counts as a dead-letter
        // hop whether or not anything reads the dead-letter topic.
        var waitUntil: UInt64?
        for h in hops.indices where hops[h].producerReceived && hops[h].deliveries.isEmpty && !hops[h].isDeadLetter {
            guard configuration.expectsConsumers(topic: hops[h].topic) else { continue }
            let deadline = (hops[h].producerEndUnixNano ?? 0) &+ configuration.unconsumedWindowNanos(topic: hops[h].topic)
            if deadline <= now {
                missing.append(.unconsumedMessage(producer: hops[h].producer, topic: hops[h].topic))
            } else {
                waitUntil = max(waitUntil ?? 0, deadline)
            }
        }

        // Causal order: by producer start, unreceived producers by their first delivery.
        // Received producers were taken in start order, so hops are usually in order already.
        let orderKeys = hops.map { hop in
            (hop.producerStartUnixNano ?? hop.deliveries.lazy.map(\.startUnixNano).min() ?? 0, hop.producer.spanID)
        }
        var position: [Int]?
        if orderKeys.indices.dropFirst().contains(where: { orderKeys[$0] < orderKeys[$0 - 1] }) {
            let permutation = hops.indices.sorted { orderKeys[$0] < orderKeys[$1] }
            var newPosition = [Int](repeating: 0, count: hops.count)
            for (newIndex, oldIndex) in permutation.enumerated() { newPosition[oldIndex] = newIndex }
            hops = permutation.map { hops[$0] }
            position = newPosition
        }

        // Critical path: walk back from the last-ending span over parents, then links.
        var critical: [Int] = []
        var last: Int32?, lastEnd: UInt64 = 0
        var errorCount = 0
        var start = UInt64.max, end: UInt64 = 0
        for member in received {
            let node = nodes[Int(member)]
            if last == nil || node.end > lastEnd { (last, lastEnd) = (member, node.end) }
            if node.flags & SpanNode.error != 0 { errorCount += 1 }
            start = min(start, node.start)
            end = max(end, node.end)
        }
        if received.isEmpty { start = 0 }
        var current = last
        var steps = 0
        while let slot = current, steps <= received.count {
            steps += 1
            let node = nodes[Int(slot)]
            if let hop = deliveryHop[slot] {
                let ordered = position?[hop] ?? hop
                if critical.last != ordered { critical.append(ordered) }
            }
            if let parent = receivedParent(node) {
                current = parent
            } else if node.linkTarget >= 0, nodes[Int(node.linkTarget)].isReceived {
                current = node.linkTarget
            } else {
                current = nil
            }
        }
        critical.reverse()

        // The root: the earliest span with no received parent and no link to a received span.
        let rootSlot = received.first { slot in
            let node = nodes[Int(slot)]
            return receivedParent(node) == nil && !(node.linkTarget >= 0 && nodes[Int(node.linkTarget)].isReceived)
        } ?? received.first ?? root
        let rootNode = nodes[Int(rootSlot)]

        var traceIDs = received.map { nodes[Int($0)].key.trace.traceID }
        traceIDs.sort()
        traceIDs.removeAdjacentDuplicates()
        var serviceIDs = received.compactMap { nodes[Int($0)].service >= 0 ? nodes[Int($0)].service : nil }
        serviceIDs.sort()
        serviceIDs.removeAdjacentDuplicates()
        let deadLetters = hops.contains(where: \.isDeadLetter)
        let status: ChainStatus =
            open || waitUntil != nil ? .inProgress
            : !missing.isEmpty ? .hasMissingHops
            : deadLetters ? .hasDeadLetters
            : errorCount > 0 ? .hasErrors
            : .complete
        let chain = Chain(
            id: ChainID(rootNode.key.trace.traceID), supersedes: [], revision: state.revision, isOpen: open,
            finalizedEarly: false, correlationID: state.hasCorrelation ? correlations[Int(nodes[Int(root)].chain)] : nil, status: status,
            rootService: strings[rootNode.service], rootOperation: strings[rootNode.name],
            spans: received.map { nodes[Int($0)].key.ref },
            traceIDs: traceIDs,
            services: serviceIDs.map { strings.values[Int($0)] }.sorted(),
            startUnixNano: start, endUnixNano: end, hops: hops, criticalPath: critical,
            errorCount: errorCount, missing: missing)
        return (chain, waitUntil)
    }
}

/// A map of the few entries one chain has (hops, deliveries, messages): searched in an
/// array while small, which costs neither hashing nor a table, and hashed past 32 entries
/// so that a chain of thousands of spans stays linear.
struct SmallMap<Key: Hashable, Value> {
    private var pairs: [(key: Key, value: Value)] = []
    private var table: [Key: Value] = [:]

    subscript(key: Key) -> Value? {
        get {
            if !table.isEmpty { return table[key] }
            for pair in pairs where pair.key == key { return pair.value }
            return nil
        }
        set {
            if !table.isEmpty {
                table[key] = newValue
            } else if let position = pairs.firstIndex(where: { $0.key == key }) {
                if let newValue { pairs[position].value = newValue } else { pairs.remove(at: position) }
            } else if let newValue {
                pairs.append((key, newValue))
                if pairs.count > 32 {
                    table = Dictionary(pairs, uniquingKeysWith: { $1 })
                    pairs = []
                }
            }
        }
    }
}

extension Array where Element: Equatable {
    /// Keeps the first of each run of equal elements: with a sort, a distinct sorted list
    /// without a set.
    mutating func removeAdjacentDuplicates() {
        guard count > 1 else { return }
        var kept = 1
        for position in 1..<count where self[position] != self[kept - 1] {
            self[kept] = self[position]
            kept += 1
        }
        removeLast(count - kept)
    }
}
