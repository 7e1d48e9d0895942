import Synchronization

/// A consumer's lane: the batches accepted for it, in order, handed over as many at a time
/// as are waiting so that a consumer with a per-write cost (the store's transaction) pays
/// it once for a run of batches rather than once each.
final class LaneQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())

    /// Adds an element; false when the queue is finished and took nothing.
    @discardableResult
    func append(_ element: Element) -> Bool {
        add { $0.append(element) }
    }

    /// Adds elements in order; false when the queue is finished and took nothing. Into an
    /// empty queue the array itself is kept, not its elements copied one by one (for the
    /// stitcher's chains, a retain of every string and array in each).
    @discardableResult
    func append(contentsOf elements: [Element]) -> Bool {
        guard !elements.isEmpty else { return !isFinished }
        return add { items in if items.isEmpty { items = elements } else { items += elements } }
    }

    /// Puts elements in with `insert` unless the queue is finished, and wakes the waiting
    /// taker; false when finished.
    @inline(__always)
    private func add(_ insert: (inout [Element]) -> Void) -> Bool {
        let (accepted, waiter): (Bool, CheckedContinuation<Void, Never>?) = state.withLock { state in
            guard !state.finished else { return (false, nil) }
            insert(&state.items)
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        return accepted
    }

    /// How many elements are waiting.
    var count: Int { state.withLock(\.items.count) }

    /// True once `finish` was called.
    var isFinished: Bool { state.withLock(\.finished) }

    /// No more elements will come; `next` returns what is left, then nil.
    func finish() {
        let waiter: CheckedContinuation<Void, Never>? = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// The waiting elements, at most `limit`, in order; waits while there are none. Nil once
    /// the queue is finished and empty, or when the task is cancelled while waiting.
    /// One task takes from a queue.
    func next(upTo limit: Int) async -> [Element]? {
        guard await waitForElements() else { return nil }
        let taken = available(upTo: limit)
        return taken.isEmpty ? nil : taken
    }

    /// Waits while there are no elements, taking none: true once some are waiting, false
    /// once the queue is finished and empty or the task is cancelled while waiting.
    func waitForElements() async -> Bool {
        while true {
            let ready: Bool? = state.withLock { state in state.items.isEmpty ? (state.finished ? false : nil) : true }
            if let ready { return ready }
            if Task.isCancelled { return false }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let ready = state.withLock { state in
                        if !state.items.isEmpty || state.finished || Task.isCancelled { return true }
                        state.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { state in
                    defer { state.waiter = nil }
                    return state.waiter
                }
                waiter?.resume()
            }
        }
    }

    /// What is waiting, at most `limit`, without waiting (empty when there is nothing).
    func available(upTo limit: Int) -> [Element] {
        take(upTo: limit) ?? []
    }

    /// What is waiting (empty when finished and drained), or nil when there is nothing yet.
    private func take(upTo limit: Int) -> [Element]? {
        state.withLock { state in
            if state.items.isEmpty { return state.finished ? [] : nil }
            // All of them: the array is handed over whole, no element copied.
            if state.items.count <= limit {
                var taken: [Element] = []
                swap(&taken, &state.items)
                return taken
            }
            let taken = Array(state.items.prefix(limit))
            // Removed now, not once the queue runs empty: under steady load it never does,
            // and every batch handed over stayed referenced here (twice the queue's
            // counted bytes were live at 130k spans/s).
            state.items.removeFirst(taken.count)
            return taken
        }
    }
}
