import EventTracingHTTP
import HTTPTypes
import NIOHTTP1
import Testing

@Suite("HTTP header carriers")
struct HTTPHeaderCarriersTests {
    /// RFC 9110 §5.3 and W3C Trace Context §3.3.2: repeated fields read as one list.
    @Test func httpFieldsExtractorCombinesRepeatedFieldsInOrder() {
        var fields = HTTPFields()
        fields.append(HTTPField(name: HTTPField.Name("tracestate")!, value: "a=1"))
        fields.append(HTTPField(name: HTTPField.Name("TraceState")!, value: "b=2"))
        #expect(HTTPFieldsExtractor().extract(key: "tracestate", from: fields) == "a=1,b=2")
        #expect(HTTPFieldsExtractor().extract(key: "baggage", from: fields) == nil)
    }

    @Test func httpFieldsInjectorReplacesEveryFieldOfTheName() {
        var fields = HTTPFields()
        fields.append(HTTPField(name: HTTPField.Name("traceparent")!, value: "old-1"))
        fields.append(HTTPField(name: HTTPField.Name("Traceparent")!, value: "old-2"))
        HTTPFieldsInjector().inject("new", forKey: "traceparent", into: &fields)
        #expect(fields[values: HTTPField.Name("traceparent")!] == ["new"])
    }

    @Test func httpHeadersExtractorCombinesRepeatedFieldsInOrder() {
        let headers = HTTPHeaders([("baggage", "a=1"), ("Baggage", "b=2")])
        #expect(HTTPHeadersExtractor().extract(key: "baggage", from: headers) == "a=1,b=2")
    }

    @Test func httpHeadersInjectorReplacesEveryFieldOfTheName() {
        var headers = HTTPHeaders([("Correlation-ID", "a"), ("correlation-id", "b")])
        HTTPHeadersInjector().inject("c", forKey: "correlation-id", into: &headers)
        #expect(headers["correlation-id"] == ["c"])
    }
}
