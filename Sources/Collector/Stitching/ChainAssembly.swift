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
    func assemble(root: Int32, now: UInt64, open: Bool) -> (chain: Chain, waitUntil: UInt64?) {
        let state = chainState(ofRoot: root)
        // Locals for what the closures below read: a closure that used `self` would copy
        // the whole stitcher (a retain and release of each of its tables) for every sort
        // comparison and every call, which was a tenth of finalization's cost.
        let nodes = self.nodes
        let index = self.index
        let strings = self.strings
        let messageIDTexts = self.messageIDTexts
        func messageIDText(_ slot: Int32) -> String? {
            let id = nodes[Int(slot)].messageID
            return id >= 0 ? messageIDTexts[Int(id)] : nil
        }
        var members: [Int32] = []
        members.reserveCapacity(state.spanCount)
        var slot = root
        repeat {
            members.append(slot)
            slot = nodes[Int(slot)].nextMember
        } while slot != root

        var received = members.filter { nodes[Int($0)].isReceived }
        received.sort { (nodes[Int($0)].start, nodes[Int($0)].key.span) < (nodes[Int($1)].start, nodes[Int($1)].key.span) }

        // Hops: one per received producer, and one per unreceived link target of a consumer.
        var hopOf: [Int32: Int] = [:]
        var hops: [Hop] = []
        var deliveryOf: [Int32: (hop: Int, delivery: Int)] = [:]
        // Which message each delivery processed: its message ID's hash, else its producer slot.
        var messageOf: [(hop: Int, delivery: Int, message: UInt64, group: Int32)] = []
        func hopIndex(producer: Int32) -> Int {
            if let found = hopOf[producer] { return found }
            let node = nodes[Int(producer)]
            let hop = Hop(
                producer: node.key.ref, producerReceived: node.isReceived,
                producerService: strings[node.service], topic: strings[node.topic],
                partition: node.partition >= 0 ? node.partition : nil,
                offset: node.offset >= 0 ? node.offset : nil,
                messageID: messageIDText(producer),
                producerStartUnixNano: node.isReceived ? node.start : nil,
                producerEndUnixNano: node.isReceived ? node.end : nil,
                producerError: node.flags & SpanNode.error != 0, deliveries: [],
                isDeadLetter: node.flags & SpanNode.deadLetter != 0)
            hops.append(hop)
            hopOf[producer] = hops.count - 1
            return hops.count - 1
        }
        for member in received where nodes[Int(member)].kind == UInt8(SpanKind.producer.rawValue) {
            _ = hopIndex(producer: member)
        }
        var missing: [MissingPart] = []
        for member in received where nodes[Int(member)].kind == UInt8(SpanKind.consumer.rawValue) {
            let node = nodes[Int(member)]
            var producers: [Int32] = []
            if node.linkTarget >= 0 { producers.append(node.linkTarget) }
            producers.append(contentsOf: extraLinks[member] ?? [])
            producers = producers.filter {
                let target = nodes[Int($0)]
                if !target.isReceived {
                    missing.append(.orphanLink(consumer: node.key.ref, target: target.key.ref))
                    return true
                }
                return target.kind == UInt8(SpanKind.producer.rawValue)
            }
            if producers.isEmpty, node.parentSpanID != 0,
                let parent = index[SpanKey(trace: node.key.trace, span: node.parentSpanID)],
                nodes[Int(parent)].isReceived, nodes[Int(parent)].kind == UInt8(SpanKind.producer.rawValue)
            {
                producers.append(parent)
            }
            for producer in producers {
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
                deliveryOf[member] = (h, hops[h].deliveries.count - 1)
                let message =
                    node.hasMessageID ? StableHash.of(messageIDTexts[Int(node.messageID)])
                    : producerNode.hasMessageID ? StableHash.of(messageIDTexts[Int(producerNode.messageID)])
                    : UInt64(1) << 63 | UInt64(UInt32(bitPattern: producer))
                messageOf.append((h, hops[h].deliveries.count - 1, message, node.group))
                // Facts the producer did not record (or that only the broker knows) come from the consumer.
                if hops[h].topic == nil { hops[h].topic = strings[node.topic] }
                if hops[h].partition == nil, node.partition >= 0 { hops[h].partition = node.partition }
                if hops[h].offset == nil, node.offset >= 0 { hops[h].offset = node.offset }
                if hops[h].messageID == nil { hops[h].messageID = messageIDText(member) }
                if node.flags & SpanNode.deadLetter != 0 { hops[h].isDeadLetter = true }
            }
        }
        for h in hops.indices where !hops[h].isDeadLetter {
            if let topic = hops[h].topic, configuration.isDeadLetterTopic(topic) { hops[h].isDeadLetter = true }
        }

        // Attempts: deliveries of one message (same message ID, else same producer span) to one
        // group, numbered by start; skipped duplicates are not processing and get no number.
        struct Attempted: Hashable { var message: UInt64; var group: Int32 }
        var attemptsSeen: [Attempted: Int] = [:]
        messageOf.sort { hops[$0.hop].deliveries[$0.delivery].startUnixNano < hops[$1.hop].deliveries[$1.delivery].startUnixNano }
        for (h, d, message, group) in messageOf where !hops[h].deliveries[d].duplicateSkipped {
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
        func orderKey(_ hop: Hop) -> UInt64 {
            hop.producerStartUnixNano ?? hop.deliveries.map(\.startUnixNano).min() ?? 0
        }
        let permutation = hops.indices.sorted { (orderKey(hops[$0]), hops[$0].producer.spanID) < (orderKey(hops[$1]), hops[$1].producer.spanID) }
        var position = [Int](repeating: 0, count: hops.count)
        for (newIndex, oldIndex) in permutation.enumerated() { position[oldIndex] = newIndex }
        let orderedHops = permutation.map { hops[$0] }

        // Critical path: walk back from the last-ending span over parents, then links.
        var critical: [Int] = []
        if let last = received.max(by: { nodes[Int($0)].end < nodes[Int($1)].end }) {
            var current: Int32? = last
            var steps = 0
            while let slot = current, steps <= received.count {
                steps += 1
                let node = nodes[Int(slot)]
                if let found = deliveryOf[slot], critical.last != position[found.hop] { critical.append(position[found.hop]) }
                var next: Int32?
                if node.parentSpanID != 0, let parent = index[SpanKey(trace: node.key.trace, span: node.parentSpanID)],
                    nodes[Int(parent)].isReceived
                {
                    next = parent
                } else if node.linkTarget >= 0, nodes[Int(node.linkTarget)].isReceived {
                    next = node.linkTarget
                }
                current = next
            }
            critical.reverse()
        }

        // The root: the earliest span with no received parent and no link to a received span.
        let rootSlot = received.first { slot in
            let node = nodes[Int(slot)]
            if node.parentSpanID != 0, let parent = index[SpanKey(trace: node.key.trace, span: node.parentSpanID)],
                nodes[Int(parent)].isReceived
            {
                return false
            }
            if node.linkTarget >= 0, nodes[Int(node.linkTarget)].isReceived { return false }
            return true
        } ?? received.first ?? root
        let rootNode = nodes[Int(rootSlot)]

        let errorCount = received.filter { nodes[Int($0)].flags & SpanNode.error != 0 }.count
        let start = received.map { nodes[Int($0)].start }.min() ?? 0
        let end = received.map { nodes[Int($0)].end }.max() ?? 0
        let deadLetters = orderedHops.contains(where: \.isDeadLetter)
        let status: ChainStatus =
            open || waitUntil != nil ? .inProgress
            : !missing.isEmpty ? .hasMissingHops
            : deadLetters ? .hasDeadLetters
            : errorCount > 0 ? .hasErrors
            : .complete
        let chain = Chain(
            id: ChainID(rootNode.key.trace.traceID), supersedes: [], revision: state.revision, isOpen: open,
            finalizedEarly: false, correlationID: correlations[root], status: status,
            rootService: strings[rootNode.service], rootOperation: strings[rootNode.name],
            spans: received.map { nodes[Int($0)].key.ref },
            traceIDs: Set(received.map { nodes[Int($0)].key.trace.traceID }).sorted(),
            services: Set(received.compactMap { strings[nodes[Int($0)].service] }).sorted(),
            startUnixNano: start, endUnixNano: end, hops: orderedHops, criticalPath: critical,
            errorCount: errorCount, missing: missing)
        return (chain, waitUntil)
    }
}
