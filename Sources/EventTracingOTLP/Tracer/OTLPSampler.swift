public import EventTracing
import Telemetry

/// Decides whether a new span is recorded and exported: the OpenTelemetry SDK's built-in
/// samplers (https://opentelemetry.io/docs/specs/otel/trace/sdk/#built-in-samplers).
///
/// A span that is not sampled still gets a span context, so the trace keeps propagating
/// with the `sampled` flag unset and downstream services make the same decision.
public struct OTLPSampler: Hashable, Sendable, CustomStringConvertible {
    /// What decides for a span without a parent (or for every span, when not parent-based).
    public enum Root: Hashable, Sendable {
        /// Record every span.
        case alwaysOn
        /// Record no span.
        case alwaysOff
        /// Record this fraction of traces, decided from the trace ID's random bits.
        case traceIDRatio(Double)
    }

    /// The sampler used for root spans, or for every span when ``isParentBased`` is false.
    public var root: Root
    /// Whether a span with a parent follows the parent's `sampled` flag, as the spec's
    /// `ParentBased` sampler does with its default delegates.
    public var isParentBased: Bool

    /// Creates a sampler.
    public init(root: Root, parentBased: Bool = true) {
        self.root = root
        self.isParentBased = parentBased
    }

    /// `parentbased_always_on`, the spec's default sampler.
    public static let parentBasedAlwaysOn = OTLPSampler(root: .alwaysOn)
    /// `always_on`: every span, whatever the parent decided.
    public static let alwaysOn = OTLPSampler(root: .alwaysOn, parentBased: false)
    /// `always_off`: no span at all.
    public static let alwaysOff = OTLPSampler(root: .alwaysOff, parentBased: false)

    /// The decision for a span of `traceID` whose parent context is `parent`.
    public func shouldSample(traceID: SpanContext.TraceID, parent: SpanContext?) -> Bool {
        // ParentBased: "sampled parent → delegate remoteParentSampled/localParentSampled
        // (default AlwaysOn); not sampled → ...NotSampled (default AlwaysOff)", for local
        // and remote parents alike.
        if isParentBased, let parent {
            return parent.flags.contains(.sampled)
        }
        switch root {
        case .alwaysOn: return true
        case .alwaysOff: return false
        case .traceIDRatio(let ratio): return Self.ratioDecision(traceID: traceID, ratio: ratio)
        }
    }

    /// TraceIdRatioBased, the consistent-probability way: the randomness value R is the
    /// least-significant 56 bits of the trace ID (W3C Trace Context Level 2 §3.2.2.5.2
    /// guarantees their randomness when the `random` flag is set, and our own trace IDs
    /// are fully random), the rejection threshold is T = (1 − ratio) × 2^56, and a span is
    /// sampled when R ≥ T (OTel spec, "TraceIdRatioBased" and "Tracestate handling":
    /// https://opentelemetry.io/docs/specs/otel/trace/tracestate-probability-sampling/).
    /// Deterministic per trace ID, and every trace sampled at a ratio is sampled at every
    /// larger ratio, as the spec requires.
    static func ratioDecision(traceID: SpanContext.TraceID, ratio: Double) -> Bool {
        guard ratio > 0 else { return false }
        guard ratio < 1 else { return true }
        let randomness = traceID.low & 0x00FF_FFFF_FFFF_FFFF
        let threshold = UInt64(((1 - ratio) * 72_057_594_037_927_936).rounded())
        return randomness >= threshold
    }

    /// The sampler's name and argument as `OTEL_TRACES_SAMPLER` spells them.
    public var description: String {
        let name: String
        switch root {
        case .alwaysOn: name = "always_on"
        case .alwaysOff: name = "always_off"
        case .traceIDRatio(let ratio): name = "traceidratio(\(ratio))"
        }
        return isParentBased ? "parentbased_" + name : name
    }
}
