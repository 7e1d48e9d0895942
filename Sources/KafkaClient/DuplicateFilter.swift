import Synchronization
public import Tracing

/// The idempotent-handler helper: remembers the IDs of the last `capacity` messages
/// handled and skips one seen before, recording a `duplicate_skipped` event on its
/// process span (the event the collector's stitcher counts as "duplicates skipped").
///
/// ```swift
/// let seen = DuplicateFilter()
/// try await consumer.run(seen.skippingDuplicates { message, span in ... })
/// ```
///
/// The memory is this process's: a redelivery to another member or after a restart is
/// not recognized. A handler whose effects must happen once across restarts keeps the
/// IDs where it keeps its effects.
public final class DuplicateFilter: Sendable {
    /// The span event of a skipped duplicate.
    public static let eventName = "duplicate_skipped"

    private struct Memory {
        var ids: Set<String> = []
        var order: [String] = []
        var next = 0
    }

    public let capacity: Int
    private let memory = Mutex(Memory())

    public init(capacity: Int = 100_000) {
        self.capacity = max(1, capacity)
    }

    /// Wraps `handler`: a message without a `message-id` header always runs.
    public func skippingDuplicates(
        _ handler: @escaping @Sendable (ConsumedMessage, any Span) async throws -> Void
    ) -> @Sendable (ConsumedMessage, any Span) async throws -> Void {
        { message, span in
            guard let id = message.messageID else { return try await handler(message, span) }
            if self.contains(id) {
                span.addEvent(SpanEvent(name: Self.eventName, attributes: ["messaging.message.id": .string(id)]))
                return
            }
            try await handler(message, span)
            self.remember(id)
        }
    }

    func contains(_ id: String) -> Bool {
        memory.withLock { $0.ids.contains(id) }
    }

    func remember(_ id: String) {
        memory.withLock { memory in
            guard memory.ids.insert(id).inserted else { return }
            if memory.order.count < capacity {
                memory.order.append(id)
            } else {
                memory.ids.remove(memory.order[memory.next])
                memory.order[memory.next] = id
                memory.next = (memory.next + 1) % capacity
            }
        }
    }
}
