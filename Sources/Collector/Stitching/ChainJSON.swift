import Foundation
import Telemetry

/// A chain as the query API answers it (and as the store keeps it): times in Unix
/// nanoseconds and durations in nanoseconds, so that no figure is rounded.
enum ChainJSON {
    /// The fields `/api/chains` lists.
    static func summary(_ chain: Chain) -> [String: Any] {
        [
            "chainID": chain.id.description,
            "correlationID": chain.correlationID ?? NSNull(),
            "status": chain.status.rawValue,
            "open": chain.isOpen,
            "revision": chain.revision,
            "finalizedEarly": chain.finalizedEarly,
            "rootService": chain.rootService ?? NSNull(),
            "rootOperation": chain.rootOperation ?? NSNull(),
            "startTimeUnixNano": Int(clamping: chain.startUnixNano),
            "endTimeUnixNano": Int(clamping: chain.endUnixNano),
            "endToEndNanos": Int(clamping: chain.endToEndNanos),
            "traceIDs": chain.traceIDs.map(\.hex),
            "spanCount": chain.spans.count,
            "hopCount": chain.hops.count,
            "errorCount": chain.errorCount,
            "missingCount": chain.missing.count,
            "fanOutHops": chain.fanOutHops,
            "retries": chain.retries,
            "deadLetterHops": chain.deadLetterHops,
            "duplicatesSkipped": chain.duplicatesSkipped,
        ]
    }

    /// The summary with the hops in causal order, the critical path and the missing parts.
    static func detail(_ chain: Chain) -> [String: Any] {
        var object = summary(chain)
        let critical = Set(chain.criticalPath)
        object["criticalPath"] = chain.criticalPath
        object["hops"] = chain.hops.enumerated().map { index, hop in hopObject(hop, onCriticalPath: critical.contains(index)) }
        object["missing"] = chain.missing.map(missingObject)
        return object
    }

    static func hopObject(_ hop: Hop, onCriticalPath: Bool) -> [String: Any] {
        [
            "producer": [
                "traceID": hop.producer.traceID.hex, "spanID": hop.producer.spanID.hex,
                "received": hop.producerReceived, "service": hop.producerService ?? NSNull(),
                "startTimeUnixNano": hop.producerStartUnixNano.map { Int(clamping: $0) } ?? NSNull(),
                "endTimeUnixNano": hop.producerEndUnixNano.map { Int(clamping: $0) } ?? NSNull(), "error": hop.producerError,
            ] as [String: Any],
            "topic": hop.topic ?? NSNull(),
            "partition": hop.partition.map { Int($0) } ?? NSNull(),
            "offset": hop.offset.map { Int($0) } ?? NSNull(),
            "messageID": hop.messageID ?? NSNull(),
            "deadLetter": hop.isDeadLetter,
            "fanOut": hop.isFanOut,
            "retries": hop.retries,
            "duplicatesSkipped": hop.duplicatesSkipped,
            "errorCount": hop.errorCount,
            "onCriticalPath": onCriticalPath,
            "deliveries": hop.deliveries.map { delivery -> [String: Any] in
                [
                    "traceID": delivery.consumer.traceID.hex, "spanID": delivery.consumer.spanID.hex,
                    "service": delivery.service ?? NSNull(), "consumerGroup": delivery.consumerGroup ?? NSNull(),
                    "startTimeUnixNano": Int(clamping: delivery.startUnixNano), "endTimeUnixNano": Int(clamping: delivery.endUnixNano),
                    "queueWaitNanos": delivery.queueWaitNanos.map { Int($0) } ?? NSNull(), "attempt": delivery.attempt,
                    "error": delivery.isError, "duplicateSkipped": delivery.duplicateSkipped,
                ]
            },
        ]
    }

    static func missingObject(_ part: MissingPart) -> [String: Any] {
        switch part {
        case .unconsumedMessage(let producer, let topic):
            return ["kind": "unconsumed_message", "producer": reference(producer), "topic": topic ?? NSNull()]
        case .orphanLink(let consumer, let target):
            return ["kind": "orphan_link", "consumer": reference(consumer), "target": reference(target)]
        }
    }

    static func reference(_ span: SpanRef) -> [String: Any] {
        ["traceID": span.traceID.hex, "spanID": span.spanID.hex]
    }

    static func data(_ object: [String: Any]) throws -> Data {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
}
