package import Telemetry

/// The stitched export (an exporter option): rewrites a finished chain's spans into one
/// trace so that backends without links (Zipkin) or without cross-trace views (Jaeger)
/// show the whole journey. Pure; the spans come from the store.
package enum StitchedExport {
    package static let originalTraceIDKey = "causeway.original_trace_id"
    package static let originalParentSpanIDKey = "causeway.original_parent_span_id"
    package static let chainIDKey = "causeway.chain_id"

    /// Every span gets the chain's trace ID; a span whose parent is not among the spans but
    /// that links to one of them (a consumer root linking to its producer) is re-parented
    /// under the first such link target. Original IDs are kept as attributes.
    package static func rewrite(_ spans: ExportTraceServiceRequest, chainID: ChainID) -> ExportTraceServiceRequest {
        var present: [SpanKey: SpanID] = [:]  // span → its parent in the rewritten tree, or .zero
        for rs in spans.resourceSpans {
            for ss in rs.scopeSpans {
                for span in ss.spans { present[SpanKey(span.traceID, span.spanID)] = span.parentSpanID ?? .zero }
            }
        }
        // Decide new parents first so that cycles (links both ways) can be refused.
        var newParent: [SpanKey: SpanID] = [:]
        for rs in spans.resourceSpans {
            for ss in rs.scopeSpans {
                for span in ss.spans {
                    let key = SpanKey(span.traceID, span.spanID)
                    if let parent = span.parentSpanID, present[SpanKey(span.traceID, parent)] != nil { continue }
                    for link in span.links {
                        let target = SpanKey(link.traceID, link.spanID)
                        guard present[target] != nil, !reaches(target, key, present) else { continue }
                        newParent[key] = link.spanID
                        present[key] = link.spanID
                        break
                    }
                }
            }
        }
        var result = spans
        for r in result.resourceSpans.indices {
            for s in result.resourceSpans[r].scopeSpans.indices {
                for i in result.resourceSpans[r].scopeSpans[s].spans.indices {
                    var span = result.resourceSpans[r].scopeSpans[s].spans[i]
                    let key = SpanKey(span.traceID, span.spanID)
                    if span.traceID != chainID.traceID {
                        span.attributes.append(KeyValue(originalTraceIDKey, .string(span.traceID.hex)))
                        span.traceID = chainID.traceID
                    }
                    if let parent = newParent[key] {
                        if let original = span.parentSpanID {
                            span.attributes.append(KeyValue(originalParentSpanIDKey, .string(original.hex)))
                        }
                        span.parentSpanID = parent
                    }
                    span.attributes.append(KeyValue(chainIDKey, .string(chainID.description)))
                    result.resourceSpans[r].scopeSpans[s].spans[i] = span
                }
            }
        }
        return result
    }

    /// Whether following parents from `start` leads to `goal` (re-parenting goal under start
    /// would then close a cycle). Span IDs are looked up across traces because re-parented
    /// spans point into another trace; within one chain 64-bit random span IDs do not collide.
    static func reaches(_ start: SpanKey, _ goal: SpanKey, _ parents: [SpanKey: SpanID]) -> Bool {
        var bySpanID: [UInt64: SpanKey] = [:]
        for key in parents.keys { bySpanID[key.span] = key }
        var current = start
        for _ in 0...parents.count {
            if current == goal { return true }
            guard let parent = parents[current], parent != .zero, let next = bySpanID[parent.value] else { return false }
            current = next
        }
        return true
    }
}
