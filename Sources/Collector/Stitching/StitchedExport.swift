package import Telemetry

/// The stitched export (an exporter option): rewrites a finished chain's spans into one
/// trace so that backends without links (Zipkin) or without cross-trace views (Jaeger)
/// show the whole journey. Pure; the spans come from the store.
package enum StitchedExport {
    package static let originalTraceIDKey = "causeway.original_trace_id"
    package static let originalParentSpanIDKey = "causeway.original_parent_span_id"
    package static let chainIDKey = "causeway.chain_id"

    /// Where a span goes in the rewritten trace: the trace ID it is sent with and its parent.
    package struct Placement: Hashable, Sendable {
        package var traceID: TraceID
        package var parentSpanID: SpanID?
    }

    /// Every span gets the chain's trace ID; a span whose parent is not among the spans but
    /// that links to one of them (a consumer root linking to its producer) is re-parented
    /// under the first such link target. Original IDs are kept as attributes.
    ///
    /// - Parameter sent: how spans were placed when an earlier revision of the chain (or a
    ///   chain it absorbed) was sent; a span placed the same way again is left out, so a
    ///   re-finalized chain sends only its new spans and those that moved (a consumer root
    ///   whose producer arrived late, every span of an absorbed chain).
    package static func rewrite(
        _ spans: ExportTraceServiceRequest, chainID: ChainID, sent: [SpanRef: Placement] = [:]
    ) -> ExportTraceServiceRequest {
        let placed = placements(spans, chainID: chainID)
        var result = ExportTraceServiceRequest()
        for resourceSpans in spans.resourceSpans {
            var keptResource = resourceSpans
            keptResource.scopeSpans = []
            for scopeSpans in resourceSpans.scopeSpans {
                var keptScope = scopeSpans
                keptScope.spans = []
                for var span in scopeSpans.spans {
                    let ref = SpanRef(traceID: span.traceID, spanID: span.spanID)
                    guard let placement = placed[ref], sent[ref] != placement else { continue }
                    if span.traceID != placement.traceID {
                        span.attributes.append(KeyValue(originalTraceIDKey, .string(span.traceID.hex)))
                        span.traceID = placement.traceID
                    }
                    if span.parentSpanID != placement.parentSpanID {
                        if let original = span.parentSpanID {
                            span.attributes.append(KeyValue(originalParentSpanIDKey, .string(original.hex)))
                        }
                        span.parentSpanID = placement.parentSpanID
                    }
                    span.attributes.append(KeyValue(chainIDKey, .string(chainID.description)))
                    keptScope.spans.append(span)
                }
                if !keptScope.spans.isEmpty { keptResource.scopeSpans.append(keptScope) }
            }
            if !keptResource.scopeSpans.isEmpty { result.resourceSpans.append(keptResource) }
        }
        return result
    }

    /// How `rewrite` places each span, by its original key; with `among`, as if only those
    /// of the spans were there (an earlier revision of the chain, whose spans the later one
    /// holds).
    package static func placements(_ spans: ExportTraceServiceRequest, chainID: ChainID, among: Set<SpanRef>? = nil) -> [SpanRef: Placement] {
        var present: [SpanKey: SpanID] = [:]  // span → its parent in the rewritten tree, or .zero
        for rs in spans.resourceSpans {
            for ss in rs.scopeSpans {
                for span in ss.spans where among?.contains(SpanRef(traceID: span.traceID, spanID: span.spanID)) ?? true {
                    present[SpanKey(span.traceID, span.spanID)] = span.parentSpanID ?? .zero
                }
            }
        }
        var placed: [SpanRef: Placement] = [:]
        // New parents are decided in order, each against the tree so far, so that cycles
        // (links both ways) are refused.
        for rs in spans.resourceSpans {
            for ss in rs.scopeSpans {
                for span in ss.spans where present[SpanKey(span.traceID, span.spanID)] != nil {
                    let key = SpanKey(span.traceID, span.spanID)
                    var placement = Placement(traceID: chainID.traceID, parentSpanID: span.parentSpanID)
                    if span.parentSpanID.map({ present[SpanKey(span.traceID, $0)] == nil }) ?? true {
                        for link in span.links {
                            let target = SpanKey(link.traceID, link.spanID)
                            guard present[target] != nil, !reaches(target, key, present) else { continue }
                            placement.parentSpanID = link.spanID
                            present[key] = link.spanID
                            break
                        }
                    }
                    placed[key.ref] = placement
                }
            }
        }
        return placed
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
