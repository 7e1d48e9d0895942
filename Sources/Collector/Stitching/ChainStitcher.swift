package import Telemetry

/// Joins spans into causality chains as they arrive, in any order and late.
///
/// A struct with synchronous mutating methods, owned by one actor (`StitchingConsumer`) in
/// the collector: per span the work is a few hash lookups with no suspension point, so an
/// actor hop per span would cost more than the work, and a value type lets tests and the
/// benchmark drive it directly with an injected clock (`now`, Unix nanoseconds).
///
/// Layout: every span (and every placeholder for a span referenced but not yet received)
/// is one fixed-size `SpanNode` in a slot array; a chain is a union-find set over slots
/// whose members also form a circular list (`nextMember`), so merging chains is O(1) and
/// a finalized chain's spans can be walked without a per-chain array. Strings with few
/// values (services, topics, groups, operations) are interned; message IDs are kept as a
/// 64-bit hash in the node and their text in one side table.
package struct ChainStitcher {
    package let configuration: StitcherConfiguration
    package private(set) var counters = StitcherCounters()

    var nodes: [SpanNode] = []
    var freeSlots: [Int32] = []
    /// Span key → slot. It also holds one member slot per trace ID, under the key with
    /// span ID 0 (never a valid span ID, W3C Trace Context §3.2.2.4), so that a chain can be
    /// found by any of its trace IDs without a second table.
    var index = SpanIndex()
    /// The sum of the slots `touchIndex` loaded: kept only so that those loads are done.
    private var touchedSlots: Int32 = 0
    /// Chain state for open and retained (finalized) chains, in a pool indexed by the root
    /// node's `chain`: an array access where a hash lookup per span used to be. Plain
    /// data, so reading it costs no reference counting; the few strings and arrays a chain
    /// has live in the tables after it.
    var chains: [ChainState] = []
    var freeChains: [Int32] = []
    /// Correlation IDs by chain pool index (beside `chains`), read when the chain's
    /// `hasCorrelation` is set: an array write per chain where a dictionary insert hashed
    /// the root slot, and an array read where assembling it looked it up again.
    var correlations: [String] = []
    /// Chains a chain was emitted as beyond the one in its state (`ChainState.emitted`), by
    /// root slot: those it absorbed (see `Chain.supersedes`, `Chain.replaces`). Empty unless
    /// finalized chains merged, so finalizing a chain allocates nothing for it.
    var emittedByAbsorbed: [Int32: [EmittedChain]] = [:]
    /// Message ID texts in a pool indexed from the node (`SpanNode.messageID`): an array
    /// write per messaging span where a dictionary insert used to hash the slot.
    var messageIDTexts: [String] = []
    var freeMessageIDs: [Int32] = []
    var extraLinks: [Int32: [Int32]] = [:]
    var strings = InternedStrings()
    /// Whether each interned topic matches a dead-letter pattern, decided once per topic.
    /// By interned string ID: 0 not decided yet, 1 no, 2 yes (an array read per span where a
    /// dictionary would hash twice).
    var deadLetterTopics: [UInt8] = []
    /// Open chains by due time; one live entry per open chain, stale ones skipped on pop.
    var due = DueHeap()
    /// Finalized chains in finalization order, for retention expiry.
    var retained: [RetentionEntry] = []
    var retainedHead = 0
    var nextSerial: UInt64 = 1
    var nextEpoch: UInt64 = 1

    package private(set) var openChainCount = 0
    package private(set) var openSpanCount = 0
    package private(set) var retainedSpanCount = 0

    let idleNanos: UInt64
    let retentionNanos: UInt64
    // Arrays, not sets: they hold two or three names, and comparing a few strings costs
    // less than hashing one, which every attribute and event of every span would pay.
    let correlationKeys: [String]
    let deadLetterKeys: [String]
    let duplicateEvents: [String]

    package init(configuration: StitcherConfiguration = StitcherConfiguration()) {
        self.configuration = configuration
        idleNanos = configuration.idleWindow.nanoseconds
        retentionNanos = configuration.retention.nanoseconds
        correlationKeys = configuration.correlationAttributes
        deadLetterKeys = configuration.deadLetterAttributes
        duplicateEvents = configuration.duplicateSkippedEvents
    }

    /// The span attributes `add` reads, besides the configured ones; kept in step with its
    /// `switch` (the chain scenario tests run through a receiver that builds only these).
    static let messagingAttributeKeys: Set = [
        "messaging.destination.name", "messaging.destination.partition.id", "messaging.kafka.destination.partition",
        "messaging.kafka.offset", "messaging.kafka.message.offset", "messaging.message.id",
        "messaging.consumer.group.name", "messaging.kafka.consumer.group",
    ]

    /// Everything `add` reads of a span's attributes and events.
    package var attributeSkim: AttributeSkim {
        AttributeSkim(
            keepingAttributes: Self.messagingAttributeKeys.union([configuration.messageTimestampAttribute] + correlationKeys + deadLetterKeys),
            keepingEvents: Set(duplicateEvents))
    }

    /// Spans currently held (open and retained), the figure memory is proportional to.
    package var heldSpanCount: Int { openSpanCount + retainedSpanCount }

    /// Bytes held by the stitcher's own structures (capacities, not counts), excluding the
    /// text of interned strings and message IDs. Hash tables are costed at their key and
    /// value sizes plus one byte of metadata per bucket, Swift's native layout.
    package var approximateBytes: Int {
        func table<K, V>(_ d: [K: V]) -> Int { d.capacity * (MemoryLayout<K>.stride + MemoryLayout<V>.stride + 1) }
        return nodes.capacity * MemoryLayout<SpanNode>.stride
            + freeSlots.capacity * 4
            + index.capacity * SpanIndex.bytesPerBucket + chains.capacity * MemoryLayout<ChainState>.stride + freeChains.capacity * 4
            + messageIDTexts.capacity * MemoryLayout<String>.stride + freeMessageIDs.capacity * 4
            + correlations.capacity * MemoryLayout<String>.stride + table(emittedByAbsorbed) + table(extraLinks)
            + due.items.capacity * MemoryLayout<DueEntry>.stride
            + retained.capacity * MemoryLayout<RetentionEntry>.stride
            + messageIDTexts.reduce(0) { $0 + ($1.utf8.count > 15 ? $1.utf8.count + 32 : 0) }
    }

    // MARK: Ingest

    /// Adds a batch. Returns the chains finalized early because a memory bound was hit.
    package mutating func ingest(_ request: ExportTraceServiceRequest, now: UInt64) -> [Chain] {
        var early: [Chain] = []
        for resourceSpans in request.resourceSpans {
            let resourceAttributes = resourceSpans.resource?.attributes ?? []
            let service = resourceSpans.resource?.serviceName.map { strings.intern($0) } ?? -1
            let resourceCorrelation = correlation(in: resourceAttributes)
            for scopeSpans in resourceSpans.scopeSpans {
                // By pointer, so each span is read where it lies: iterating, or passing the
                // buffer's element as `borrowing`, copied it (a retain and release of each
                // of its arrays and strings).
                touchIndex(for: scopeSpans.spans)
                scopeSpans.spans.forEachInPlace { span in
                    add(span, service: service, resourceCorrelation: resourceCorrelation, now: now)
                }
            }
            enforceBounds(now: now, into: &early)
        }
        return early
    }

    /// Loads the index buckets that adding `spans` will probe first (each span's own, its
    /// trace's entry, its parent's, its links' targets), so that their cache misses overlap.
    private mutating func touchIndex(for spans: [Span]) {
        var touched: Int32 = 0
        spans.withUnsafeBufferPointer { spans in
            for position in spans.indices {
                let trace = TraceKey(spans[position].traceID)
                touched &+= index.touch(SpanKey(trace: trace, span: spans[position].spanID.value))
                touched &+= index.touch(SpanKey(trace: trace, span: 0))
                if let parent = spans[position].parentSpanID { touched &+= index.touch(SpanKey(trace: trace, span: parent.value)) }
                spans[position].links.withUnsafeBufferPointer { links in
                    for link in links { touched &+= index.touch(SpanKey(link.traceID, link.spanID)) }
                }
            }
        }
        touchedSlots &+= touched
    }

    mutating func add(_ span: UnsafePointer<Span>, service: Int32, resourceCorrelation: String?, now: UInt64) {
        counters.spansIngested += 1
        // All-zero IDs are invalid (OTLP, W3C Trace Context §3.2.2.3–4), and span ID 0 keys
        // the trace entries of the index.
        guard span.pointee.spanID.value != 0, span.pointee.traceID.isValid else {
            counters.invalidSpans += 1
            return
        }
        let key = SpanKey(span.pointee.traceID, span.pointee.spanID)
        var node = SpanNode(key: key)
        node.parentSpanID = span.pointee.parentSpanID?.value ?? 0
        node.start = span.pointee.startTimeUnixNano
        node.end = span.pointee.endTimeUnixNano
        node.kind = UInt8(truncatingIfNeeded: span.pointee.kind.rawValue)
        node.flags = SpanNode.received
        if span.pointee.status.code == .error { node.flags |= SpanNode.error }
        node.service = service
        node.name = strings.intern(span.pointee.name)
        var correlationID: String?
        var messageID: String?
        span.pointee.attributes.withUnsafeBufferPointer { attributes in
        for attribute in attributes {
            switch attribute.key {
            case "messaging.destination.name":
                if case .string(let topic) = attribute.value {
                    let id = strings.intern(topic)
                    node.topic = id
                    if deadLetterTopics.count <= Int(id) { deadLetterTopics += repeatElement(0, count: Int(id) + 1 - deadLetterTopics.count) }
                    if deadLetterTopics[Int(id)] == 0 { deadLetterTopics[Int(id)] = configuration.isDeadLetterTopic(topic) ? 2 : 1 }
                    if deadLetterTopics[Int(id)] == 2 { node.flags |= SpanNode.deadLetter }
                }
            case "messaging.destination.partition.id", "messaging.kafka.destination.partition":
                if let value = attribute.value.integer { node.partition = Int32(truncatingIfNeeded: value) }
            case "messaging.kafka.offset", "messaging.kafka.message.offset":
                if let value = attribute.value.integer { node.offset = value }
            case "messaging.message.id":
                if let text = attribute.value.text { messageID = text }
            case "messaging.consumer.group.name", "messaging.kafka.consumer.group":
                if case .string(let group) = attribute.value { node.group = strings.intern(group) }
            case configuration.messageTimestampAttribute:
                if let millis = attribute.value.integer, millis > 0 { node.messageTimestamp = UInt64(millis) &* 1_000_000 }
            default:
                if deadLetterKeys.contains(attribute.key), attribute.value.isTrue { node.flags |= SpanNode.deadLetter }
                if correlationID == nil, correlationKeys.contains(attribute.key) { correlationID = attribute.value.text }
            }
        }
        }
        span.pointee.events.withUnsafeBufferPointer { events in
            for event in events where duplicateEvents.contains(event.name) {
                node.flags |= SpanNode.duplicateSkipped
            }
        }

        let slot: Int32
        if let existing = index[key] {
            guard nodes[Int(existing)].flags & SpanNode.received == 0 else {
                counters.repeatedSpans += 1
                return
            }
            // A placeholder: keep its chain links, take the span's facts.
            node.unionParent = nodes[Int(existing)].unionParent
            node.nextMember = nodes[Int(existing)].nextMember
            node.chain = nodes[Int(existing)].chain
            nodes[Int(existing)] = node
            slot = existing
        } else {
            // Most spans arrive after their parent or the producer they link to: they join
            // its chain at once. Starting a chain of their own, to be united with it a moment
            // later, cost a chain state, an entry in the due heap and a union a span. Looked
            // up before the span's own key is in the index, which a span naming itself as
            // its parent or link target would find: it starts a chain, as it did before.
            let anchor = heldAnchor(of: span, trace: key.trace, parent: node.parentSpanID)
            slot = allocate(node)
            index.insert(key, slot)
            if let anchor {
                addMember(slot, toRoot: touch(find(anchor), now: now))
            } else {
                startChain(at: slot, now: now)
            }
        }
        if let messageID {
            if let free = freeMessageIDs.popLast() {
                messageIDTexts[Int(free)] = messageID
                nodes[Int(slot)].messageID = free
            } else {
                messageIDTexts.append(messageID)
                nodes[Int(slot)].messageID = Int32(messageIDTexts.count - 1)
            }
        }

        var root = find(slot)
        root = touch(root, now: now)
        var parentReceived = false
        if node.parentSpanID != 0 {
            let parent: Int32
            (root, parent) = join(root, SpanKey(trace: key.trace, span: node.parentSpanID), now: now)
            nodes[Int(slot)].parentSlot = parent
            parentReceived = nodes[Int(parent)].isReceived
        }
        // A span whose parent was received shares the entry its trace got then; probing the
        // index for it again was a cache miss per span.
        if !parentReceived, index.insertIfAbsent(SpanKey(trace: key.trace, span: 0), slot) {
            nodes[Int(slot)].flags |= SpanNode.holdsTraceEntry
        }
        var linkPosition = 0
        span.pointee.links.withUnsafeBufferPointer { links in
            for position in links.indices where links[position].traceID.isValid && links[position].spanID.isValid {
                let (joined, targetSlot) = join(root, SpanKey(links[position].traceID, links[position].spanID), now: now)
                root = joined
                if linkPosition == 0 { nodes[Int(slot)].linkTarget = targetSlot } else { extraLinks[slot, default: []].append(targetSlot) }
                linkPosition += 1
            }
        }
        let chain = Int(nodes[Int(root)].chain)
        if !chains[chain].hasCorrelation, let found = correlationID ?? resourceCorrelation {
            correlations[chain] = found
            chains[chain].hasCorrelation = true
        }
    }

    /// Unites the chain at `root` with the chain of `key`, creating a placeholder for an
    /// unseen span. Returns the root of the united chain and the slot of `key`.
    mutating func join(_ root: Int32, _ key: SpanKey, now: UInt64) -> (root: Int32, slot: Int32) {
        if let other = index[key] {
            return (union(root, find(other), now: now), other)
        }
        let slot = allocate(SpanNode(key: key))
        index.insert(key, slot)
        addMember(slot, toRoot: root)
        return (root, slot)
    }

    /// The slot of the first span a new span would join that is held already: its parent,
    /// else the first valid span it links to.
    func heldAnchor(of span: UnsafePointer<Span>, trace: TraceKey, parent: UInt64) -> Int32? {
        if parent != 0, let slot = index[SpanKey(trace: trace, span: parent)] { return slot }
        return span.pointee.links.withUnsafeBufferPointer { links in
            guard let position = links.firstIndex(where: { $0.traceID.isValid && $0.spanID.isValid }) else { return nil }
            return index[SpanKey(links[position].traceID, links[position].spanID)]
        }
    }

    /// Puts a slot that is in no chain into the chain at `root`, counted as open or
    /// retained as the chain is.
    mutating func addMember(_ slot: Int32, toRoot root: Int32) {
        nodes[Int(slot)].unionParent = root
        nodes[Int(slot)].nextMember = nodes[Int(root)].nextMember
        nodes[Int(root)].nextMember = slot
        let chain = Int(nodes[Int(root)].chain)
        chains[chain].spanCount += 1
        if chains[chain].finalized { retainedSpanCount += 1 } else { openSpanCount += 1 }
    }

    mutating func allocate(_ node: SpanNode) -> Int32 {
        if let slot = freeSlots.popLast() {
            nodes[Int(slot)] = node
            return slot
        }
        nodes.append(node)
        return Int32(nodes.count - 1)
    }

    mutating func startChain(at slot: Int32, now: UInt64) {
        nodes[Int(slot)].unionParent = slot
        nodes[Int(slot)].nextMember = slot
        let serial = nextSerial
        nextSerial += 1
        let state = ChainState(root: slot, serial: serial, lastActivity: now, dueAt: now &+ idleNanos)
        if let free = freeChains.popLast() {
            chains[Int(free)] = state
            nodes[Int(slot)].chain = free
        } else {
            chains.append(state)
            correlations.append("")
            nodes[Int(slot)].chain = Int32(chains.count - 1)
        }
        due.push(DueEntry(dueAt: now &+ idleNanos, root: slot, serial: serial))
        openChainCount += 1
        openSpanCount += 1
    }

    func rootOf(_ slot: Int32) -> Int32 {
        var current = slot
        while nodes[Int(current)].unionParent != current { current = nodes[Int(current)].unionParent }
        return current
    }

    /// `find` with path compression, for the mutating paths.
    mutating func find(_ slot: Int32) -> Int32 {
        var root = slot
        while nodes[Int(root)].unionParent != root { root = nodes[Int(root)].unionParent }
        var current = slot
        while current != root {
            let next = nodes[Int(current)].unionParent
            nodes[Int(current)].unionParent = root
            current = next
        }
        return root
    }

    /// Marks activity; re-opens a finalized chain. Modifies the state in place (one hash
    /// lookup, no copy of its strings and arrays): this runs for every span.
    mutating func touch(_ root: Int32, now: UInt64) -> Int32 {
        let position = Int(nodes[Int(root)].chain)
        if chains[position].finalized {
            counters.chainsReopened += 1
            let spanCount = chains[position].spanCount
            retainedSpanCount -= spanCount
            openSpanCount += spanCount
            openChainCount += 1
            chains[position].finalized = false
            chains[position].dueAt = now &+ idleNanos
            due.push(DueEntry(dueAt: now &+ idleNanos, root: root, serial: chains[position].serial))
        }
        chains[position].lastActivity = now
        chains[position].dueAt = max(chains[position].dueAt, now &+ idleNanos)
        return root
    }

    /// The pool index of the chain whose root is `root`, if it is still the chain `serial`
    /// names: due and retention entries outlive the chains they were made for.
    func liveChain(root: Int32, serial: UInt64) -> Int? {
        guard root >= 0, Int(root) < nodes.count else { return nil }
        let chain = nodes[Int(root)].chain
        guard chain >= 0, chains[Int(chain)].root == root, chains[Int(chain)].serial == serial else { return nil }
        return Int(chain)
    }

    /// The state of the chain whose root is `root`.
    func chainState(ofRoot root: Int32) -> ChainState { chains[Int(nodes[Int(root)].chain)] }

    mutating func releaseChain(ofRoot root: Int32) {
        let chain = nodes[Int(root)].chain
        if chains[Int(chain)].hasCorrelation { correlations[Int(chain)] = "" }
        chains[Int(chain)].root = -1
        nodes[Int(root)].chain = -1
        freeChains.append(chain)
    }

    mutating func union(_ a: Int32, _ b: Int32, now: UInt64) -> Int32 {
        if a == b { return a }
        var survivor = a, absorbed = b
        if chainState(ofRoot: a).spanCount < chainState(ofRoot: b).spanCount { swap(&survivor, &absorbed) }
        // Both become (part of) one open chain.
        _ = touch(survivor, now: now)
        _ = touch(absorbed, now: now)
        let gone = chainState(ofRoot: absorbed)
        let correlation = gone.hasCorrelation ? correlations[Int(nodes[Int(absorbed)].chain)] : ""
        releaseChain(ofRoot: absorbed)
        openChainCount -= 1
        let kept = Int(nodes[Int(survivor)].chain)
        chains[kept].spanCount += gone.spanCount
        if gone.hasCorrelation, !chains[kept].hasCorrelation {
            correlations[kept] = correlation
            chains[kept].hasCorrelation = true
        }
        if gone.emitted.isValid {
            emittedByAbsorbed[survivor, default: []].append(EmittedChain(id: ChainID(gone.emitted.traceID), startUnixNano: gone.emittedStart))
        }
        if !emittedByAbsorbed.isEmpty, let ids = emittedByAbsorbed.removeValue(forKey: absorbed) { emittedByAbsorbed[survivor, default: []] += ids }
        chains[kept].revision = max(chains[kept].revision, gone.revision)
        nodes[Int(absorbed)].unionParent = survivor
        let next = nodes[Int(survivor)].nextMember
        nodes[Int(survivor)].nextMember = nodes[Int(absorbed)].nextMember
        nodes[Int(absorbed)].nextMember = next
        return survivor
    }

    // MARK: Restoring

    /// Takes back chains an earlier run of the collector stored, so that a span arriving
    /// after a restart joins its chain as it would have without the restart, instead of
    /// starting a chain of its own with an orphan link, while the stored chain keeps its
    /// message unconsumed. Each chain's spans join as received; a chain stored finalized is
    /// finalized again at once, nothing emitted, with the revision it was stored under, so
    /// that a late span re-opens it and its next finalization replaces the stored row. A
    /// chain stored in progress (a message inside its consume window) stays open and is
    /// finalized as any open chain is. Nothing restored is counted as ingested.
    package mutating func restore(_ restored: [RestoredChain], now: UInt64) {
        let counted = counters
        for chain in restored {
            _ = ingest(chain.spans, now: now)
            guard let first = chain.spans.resourceSpans.first?.scopeSpans.first?.spans.first,
                let slot = index[SpanKey(first.traceID, first.spanID)]
            else { continue }
            let root = find(slot)
            let position = Int(nodes[Int(root)].chain)
            guard !chains[position].finalized else { continue }
            chains[position].emitted = TraceKey(chain.id.traceID)
            chains[position].emittedStart = chain.startUnixNano
            if chain.inProgress {
                chains[position].revision = max(chains[position].revision, chain.revision)
            } else {
                chains[position].revision = max(chains[position].revision, chain.revision - 1)
                let (assembled, _) = assemble(root: root, now: now, open: false)
                _ = finalize(root: root, chain: consume assembled, now: now)
            }
        }
        counters = counted
        counters.chainsRestored += restored.count
    }

    // MARK: Finalization

    /// Finalizes chains idle for the idle window and forgets finalized chains past their
    /// retention. Call periodically with the current time.
    package mutating func finalizeIdle(now: UInt64) -> [Chain] {
        var finished: [Chain] = []
        while let entry = due.peek, entry.dueAt <= now {
            due.pop()
            guard let live = liveChain(root: entry.root, serial: entry.serial), !chains[live].finalized else { continue }
            let state = chains[live]
            if state.dueAt > entry.dueAt {
                due.push(DueEntry(dueAt: state.dueAt, root: entry.root, serial: state.serial))
                continue
            }
            let (chain, waitUntil) = assemble(root: entry.root, now: now, open: false)
            if let waitUntil, waitUntil > now {
                // A message is still inside its consume window: wait for its consumers.
                chains[live].dueAt = waitUntil
                due.push(DueEntry(dueAt: waitUntil, root: entry.root, serial: state.serial))
                continue
            }
            finished.append(finalize(root: entry.root, chain: consume chain, now: now))
        }
        expireRetained(now: now)
        return finished
    }

    /// Finalizes every open chain now (shutdown).
    package mutating func finalizeAll(now: UInt64) -> [Chain] {
        var finished: [Chain] = []
        while let entry = due.peek {
            due.pop()
            guard let live = liveChain(root: entry.root, serial: entry.serial), !chains[live].finalized else { continue }
            let (chain, _) = assemble(root: entry.root, now: now, open: false)
            finished.append(finalize(root: entry.root, chain: consume chain, now: now))
        }
        return finished
    }

    mutating func enforceBounds(now: UInt64, into finished: inout [Chain]) {
        while openChainCount > configuration.maxOpenChains || openSpanCount > configuration.maxOpenSpans,
            let entry = due.peek
        {
            due.pop()
            guard let live = liveChain(root: entry.root, serial: entry.serial), !chains[live].finalized else { continue }
            var (chain, _) = assemble(root: entry.root, now: now, open: false)
            chain.finalizedEarly = true
            counters.chainsFinalizedEarly += 1
            finished.append(finalize(root: entry.root, chain: consume chain, now: now))
        }
        while retainedSpanCount > configuration.maxRetainedSpans, retainedHead < retained.count {
            let entry = retained[retainedHead]
            retainedHead += 1
            if forget(entry) { counters.retainedChainsDroppedEarly += 1 }
        }
        compactRetained()
    }

    /// `chain` is taken over, not copied (a copy retains every string and array in it).
    mutating func finalize(root: Int32, chain: consuming Chain, now: UInt64) -> Chain {
        var state = chainState(ofRoot: root)
        state.revision += 1
        chain.revision = state.revision
        // Nearly always empty: an array is allocated only for a chain emitted before.
        var earlier: [EmittedChain] = []
        if state.emitted.isValid { earlier.append(EmittedChain(id: ChainID(state.emitted.traceID), startUnixNano: state.emittedStart)) }
        if !emittedByAbsorbed.isEmpty, let absorbed = emittedByAbsorbed.removeValue(forKey: root) { earlier += absorbed }
        if !earlier.isEmpty {
            chain.replaces = earlier.count > 1 ? Set(earlier).sorted() : earlier
            chain.supersedes = Set(earlier.lazy.map(\.id).filter { $0 != chain.id }).sorted()
        }
        state.emitted = TraceKey(chain.id.traceID)
        state.emittedStart = chain.startUnixNano
        state.finalized = true
        // Unused while finalized (a re-opening sets it again): when it was, for `snapshot`.
        state.dueAt = now
        state.epoch = nextEpoch
        nextEpoch += 1
        chains[Int(nodes[Int(root)].chain)] = state
        openChainCount -= 1
        openSpanCount -= state.spanCount
        retainedSpanCount += state.spanCount
        retained.append(RetentionEntry(at: now, root: root, serial: state.serial, epoch: state.epoch))
        counters.chainsFinalized += 1
        return chain
    }

    mutating func expireRetained(now: UInt64) {
        while retainedHead < retained.count, retained[retainedHead].at &+ retentionNanos <= now {
            let entry = retained[retainedHead]
            retainedHead += 1
            forget(entry)
        }
        compactRetained()
    }

    mutating func compactRetained() {
        if retainedHead > 4096, retainedHead * 2 > retained.count {
            retained.removeFirst(retainedHead)
            retainedHead = 0
        }
    }

    /// Frees a retained chain's slots, if the entry still describes it.
    @discardableResult
    mutating func forget(_ entry: RetentionEntry) -> Bool {
        guard let live = liveChain(root: entry.root, serial: entry.serial), chains[live].finalized,
            chains[live].epoch == entry.epoch
        else { return false }
        let state = chains[live]
        releaseChain(ofRoot: entry.root)
        // The index's buckets of the chain's keys are loaded first, all at once (see
        // `SpanIndex.touch`): removing them one after another waited for a cache miss each.
        var member = entry.root
        repeat {
            let node = nodes[Int(member)]
            touchedSlots &+= index.touch(node.key)
            if node.flags & SpanNode.holdsTraceEntry != 0 { touchedSlots &+= index.touch(SpanKey(trace: node.key.trace, span: 0)) }
            member = node.nextMember
        } while member != entry.root
        var slot = entry.root
        repeat {
            let node = nodes[Int(slot)]
            index.remove(node.key)
            if node.flags & SpanNode.holdsTraceEntry != 0 { index.remove(SpanKey(trace: node.key.trace, span: 0)) }
            if node.messageID >= 0 {
                messageIDTexts[Int(node.messageID)] = ""
                freeMessageIDs.append(node.messageID)
            }
            if node.linkTarget >= 0 { extraLinks.removeValue(forKey: slot) }
            freeSlots.append(slot)
            slot = node.nextMember
        } while slot != entry.root
        if !emittedByAbsorbed.isEmpty { emittedByAbsorbed.removeValue(forKey: entry.root) }
        retainedSpanCount -= state.spanCount
        return true
    }

    // MARK: Queries

    /// The current view of the chain (open or retained) holding this trace ID; a chain ID is
    /// one of its trace IDs.
    package func snapshot(chainID: ChainID) -> Chain? {
        guard chainID.traceID.isValid, let member = index[SpanKey(trace: TraceKey(chainID.traceID), span: 0)] else { return nil }
        let root = rootOf(member)
        let state = chainState(ofRoot: root)
        // A finalized chain as it was finalized: at its last activity a message still inside
        // its consume window then would show as in progress, not missing.
        return assemble(root: root, now: state.finalized ? state.dueAt : state.lastActivity, open: !state.finalized).chain
    }

    /// The `limit` most recently active open chains, most recent first. Scans the chain
    /// states once and assembles only those returned.
    package func recentOpenChains(limit: Int) -> [Chain] {
        var candidates: [(activity: UInt64, root: Int32)] = []
        for state in chains where state.root >= 0 && !state.finalized { candidates.append((state.lastActivity, state.root)) }
        candidates.sort { ($0.activity, $1.root) > ($1.activity, $0.root) }
        return candidates.prefix(max(0, limit)).map { assemble(root: $0.root, now: $0.activity, open: true).chain }
    }

    /// The chains (open and retained) carrying this correlation ID, by start time.
    package func chains(correlationID: String) -> [Chain] {
        chains.indices.compactMap { position -> Chain? in
            let state = chains[position]
            guard state.root >= 0, state.hasCorrelation, correlations[position] == correlationID else { return nil }
            return assemble(root: state.root, now: state.lastActivity, open: !state.finalized).chain
        }.sorted { ($0.startUnixNano, $0.id) < ($1.startUnixNano, $1.id) }
    }
}

// MARK: Storage

struct TraceKey: Hashable {
    var high: UInt64
    var low: UInt64
    init(_ id: TraceID) { high = id.high; low = id.low }
    init(high: UInt64, low: UInt64) { self.high = high; self.low = low }
    var traceID: TraceID { TraceID(high: high, low: low) }
    /// All-zero is invalid (W3C Trace Context §3.2.2.3), so it stands for none.
    static let none = TraceKey(high: 0, low: 0)
    var isValid: Bool { high != 0 || low != 0 }
}

struct SpanKey: Hashable {
    var trace: TraceKey
    var span: UInt64
    init(trace: TraceKey, span: UInt64) { self.trace = trace; self.span = span }
    init(_ traceID: TraceID, _ spanID: SpanID) { self.init(trace: TraceKey(traceID), span: spanID.value) }
    var ref: SpanRef { SpanRef(traceID: trace.traceID, spanID: SpanID(span)) }
}

/// One span or placeholder: fixed size, no references, so the slot array is one allocation.
struct SpanNode {
    static let received: UInt8 = 1
    static let error: UInt8 = 2
    static let deadLetter: UInt8 = 4
    static let duplicateSkipped: UInt8 = 8
    /// The index's entry for the span's trace (span ID 0) names this slot.
    static let holdsTraceEntry: UInt8 = 16

    var key: SpanKey
    var parentSpanID: UInt64 = 0
    var start: UInt64 = 0
    var end: UInt64 = 0
    var offset: Int64 = -1
    var messageTimestamp: UInt64 = 0

    var unionParent: Int32 = -1
    var nextMember: Int32 = -1
    var linkTarget: Int32 = -1
    var service: Int32 = -1
    var name: Int32 = -1
    var topic: Int32 = -1
    var group: Int32 = -1
    var partition: Int32 = -1
    /// The `messaging.message.id` of the span: its index in `messageIDTexts`, or -1.
    var messageID: Int32 = -1
    /// At a chain's root: its state's index in `chains` (in what was padding: no bytes added).
    var chain: Int32 = -1
    /// The slot of the parent span (or its placeholder), -1 for a root: finalization reads
    /// it where a lookup of the parent's key in the index was a cache miss per span. Also in
    /// what was padding. Stable while the chain is held: a placeholder becomes its span in
    /// place, and a chain's slots are freed together.
    var parentSlot: Int32 = -1
    var kind: UInt8 = 0
    var flags: UInt8 = 0

    init(key: SpanKey) { self.key = key }

    /// Whether the span carried a message ID; its text is `messageIDTexts[messageID]`.
    var hasMessageID: Bool { messageID >= 0 }
    var isReceived: Bool { flags & SpanNode.received != 0 }
}

struct ChainState {
    /// The root slot; -1 while the pool entry is free.
    var root: Int32
    var serial: UInt64
    var lastActivity: UInt64
    var dueAt: UInt64
    var spanCount = 1
    var finalized = false
    /// Whether `correlations` holds an entry for the chain, so that a span that carries the
    /// correlation ID again costs no lookup.
    var hasCorrelation = false
    var epoch: UInt64 = 0
    var revision = 0
    /// The chain ID it was last emitted under, `.none` before its first finalization, and
    /// its start then: together they find the stored row its next revision replaces.
    var emitted = TraceKey.none
    var emittedStart: UInt64 = 0

    init(root: Int32, serial: UInt64, lastActivity: UInt64, dueAt: UInt64) {
        self.root = root
        self.serial = serial
        self.lastActivity = lastActivity
        self.dueAt = dueAt
    }
}

struct RetentionEntry {
    var at: UInt64
    var root: Int32
    var serial: UInt64
    var epoch: UInt64
}

struct DueEntry {
    var dueAt: UInt64
    var root: Int32
    var serial: UInt64
}

/// A min-heap on due time with four children a node: half the levels of a binary heap, and
/// a node's children side by side in memory. Popping was a fifth of finalizing chains in
/// `bench stitcher` with a binary heap of open chains, a cache miss at nearly every level.
struct DueHeap {
    var items: [DueEntry] = []
    var peek: DueEntry? { items.first }
    var count: Int { items.count }

    mutating func push(_ entry: DueEntry) {
        items.append(entry)
        items.withUnsafeMutableBufferPointer { items in
            var hole = items.count - 1
            while hole > 0 {
                let parent = (hole - 1) / 4
                guard entry.dueAt < items[parent].dueAt else { break }
                items[hole] = items[parent]
                hole = parent
            }
            items[hole] = entry
        }
    }

    mutating func pop() {
        guard let last = items.popLast(), !items.isEmpty else { return }
        items.withUnsafeMutableBufferPointer { items in
            // The last entry moves down from the top, each level's smallest child up.
            var hole = 0
            while true {
                let first = 4 * hole + 1
                guard first < items.count else { break }
                var smallest = first
                for child in (first + 1)..<min(first + 4, items.count) where items[child].dueAt < items[smallest].dueAt { smallest = child }
                guard items[smallest].dueAt < last.dueAt else { break }
                items[hole] = items[smallest]
                hole = smallest
            }
            items[hole] = last
        }
    }
}

/// Strings numbered in the order first seen: the stitcher's span names, services, topics
/// and groups, and the span store's services and operations of a segment.
struct InternedStrings {
    var ids: [String: Int32] = [:]
    var values: [String] = []
    /// Recently interned IDs, direct-mapped by length and first and last byte: a hit costs
    /// one comparison of the text instead of hashing it (SipHash), and the few names,
    /// services, topics and groups of a deployment nearly always hit.
    var recent = [Int32](repeating: -1, count: 256)

    mutating func intern(_ text: String) -> Int32 {
        let utf8 = text.utf8
        let position = Int(truncatingIfNeeded: (utf8.count &* 31 &+ Int(utf8.first ?? 0) &* 7 &+ Int(utf8.last ?? 0)) & 255)
        let cached = recent[position]
        if cached >= 0, values[Int(cached)] == text { return cached }
        let id: Int32
        if let found = ids[text] {
            id = found
        } else {
            id = Int32(values.count)
            values.append(text)
            ids[text] = id
        }
        recent[position] = id
        return id
    }

    subscript(id: Int32) -> String? { id >= 0 ? values[Int(id)] : nil }
}

/// FNV-1a: stable across runs (unlike `Hasher`), good enough to compare message IDs.
enum StableHash {
    static func of(_ text: String) -> UInt64 {
        var text = text
        // Over the bytes where they lie: through the string's UTF-8 view, a byte at a time,
        // this was a fifth of assembling a chain with UUID message IDs.
        let hash = text.withUTF8 { bytes in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return hash
        }
        return hash == 0 ? 1 : hash
    }
}

extension AnyValue {
    var integer: Int64? {
        switch self {
        case .int(let value): value
        case .string(let text): Int64(text)
        case .double(let value): value.isFinite ? Int64(value) : nil
        default: nil
        }
    }

    var text: String? {
        switch self {
        case .string(let text): text
        case .int(let value): String(value)
        default: nil
        }
    }

    var isTrue: Bool {
        switch self {
        case .bool(let value): value
        case .string(let text): text.lowercased() == "true"
        default: false
        }
    }
}
