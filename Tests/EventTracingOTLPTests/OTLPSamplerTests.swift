import EventTracing
@testable import EventTracingOTLP
import Telemetry
import Testing
import Tracing

@Suite("OTLPSampler")
struct OTLPSamplerTests {
    @Test("always_off records nothing but still gives the span a context to propagate, unsampled")
    func alwaysOff() async throws {
        let sut = TracerUnderTest(sampler: .alwaysOff)
        let span = sut.tracer.startSpan("dropped", context: .topLevel)
        #expect(!span.isRecording)
        let context = try #require(span.context.spanContext)
        #expect(context.traceID.isValid)
        #expect(context.flags == .random)
        span.end()
        #expect(await sut.finished().isEmpty)
    }

    @Test("parent-based sampling follows an unsampled remote parent")
    func parentBasedUnsampledParent() async throws {
        let sut = TracerUnderTest(sampler: .parentBasedAlwaysOn)
        var context = ServiceContext.topLevel
        sut.tracer.extract(
            ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02"], into: &context,
            using: DictionaryExtractor())
        let span = sut.tracer.startSpan("child", context: context)
        #expect(!span.isRecording)
        #expect(span.context.spanContext?.flags == .random)
        span.end()
        #expect(await sut.finished().isEmpty)
    }

    @Test("parent-based sampling records the child of a sampled parent even when the root sampler is off")
    func parentBasedSampledParent() {
        let sut = TracerUnderTest(sampler: OTLPSampler(root: .alwaysOff))
        var context = ServiceContext.topLevel
        sut.tracer.extract(
            ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"], into: &context,
            using: DictionaryExtractor())
        #expect(sut.tracer.startSpan("child", context: context).isRecording)
        #expect(!sut.tracer.startSpan("root", context: .topLevel).isRecording)
    }

    @Test("always_on ignores an unsampled parent and sets the sampled flag")
    func alwaysOnOverridesParent() {
        let sut = TracerUnderTest(sampler: .alwaysOn)
        var context = ServiceContext.topLevel
        sut.tracer.extract(
            ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"], into: &context,
            using: DictionaryExtractor())
        let span = sut.tracer.startSpan("child", context: context)
        #expect(span.isRecording)
        #expect(span.context.spanContext?.flags == .sampled)
    }

    @Test("the ratio sampler compares the trace ID's low 56 bits with (1 − ratio) × 2^56")
    func ratioThreshold() {
        // ratio 0.5: threshold 2^55.
        let below = SpanContext.TraceID(high: 0xFFFF_FFFF_FFFF_FFFF, low: 0xFF7F_FFFF_FFFF_FFFF)
        let at = SpanContext.TraceID(high: 0, low: 0x0080_0000_0000_0000)
        #expect(!OTLPSampler.ratioDecision(traceID: below, ratio: 0.5))
        #expect(OTLPSampler.ratioDecision(traceID: at, ratio: 0.5))
        // The top byte of the low half does not count.
        let topByteOnly = SpanContext.TraceID(high: 0, low: 0xFF00_0000_0000_0000)
        #expect(!OTLPSampler.ratioDecision(traceID: topByteOnly, ratio: 0.5))
    }

    @Test("ratio 0 samples nothing and ratio 1 everything")
    func ratioBounds() {
        let maximum = SpanContext.TraceID(high: 1, low: 0x00FF_FFFF_FFFF_FFFF)
        let minimum = SpanContext.TraceID(high: 1, low: 0)
        #expect(!OTLPSampler.ratioDecision(traceID: maximum, ratio: 0))
        #expect(OTLPSampler.ratioDecision(traceID: minimum, ratio: 1))
    }

    @Test("a trace sampled at one ratio is sampled at every larger ratio")
    func ratioIsConsistent() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let id = SpanContext.TraceID.random(using: &generator)
            var previous = false
            for ratio in stride(from: 0.0, through: 1.0, by: 0.05) {
                let decision = OTLPSampler.ratioDecision(traceID: id, ratio: ratio)
                #expect(!previous || decision)
                previous = decision
            }
        }
    }

    @Test("a ratio of 0.25 samples about a quarter of new traces")
    func ratioFraction() {
        let sut = TracerUnderTest(sampler: OTLPSampler(root: .traceIDRatio(0.25)))
        let sampled = (0..<4000).count { _ in sut.tracer.startSpan("r", context: .topLevel).isRecording }
        #expect((800...1200).contains(sampled))
    }
}
