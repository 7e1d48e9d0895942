import Telemetry

/// One codec as the benchmark drives it, over the standard request.
struct BenchCodec {
    var name: String
    /// The standard request in this codec's format.
    var bytes: [UInt8]
    var decode: (() -> Int)?
    var encode: () -> Int
}

enum TelemetryCodecs {
    /// The codecs besides OTLP protobuf, which the benchmark measures on its own.
    static func all(_ request: ExportTraceServiceRequest) -> [BenchCodec] {
        let json = request.otlpJSONBytes()
        let zipkin = ZipkinV2JSON.encode(request)
        let jaeger = JaegerUIJSON.encode(request)
        return [
            BenchCodec(
                name: "otlp-json", bytes: json,
                decode: { (try? ExportTraceServiceRequest(otlpJSON: json))?.resourceSpans.count ?? 0 },
                encode: { request.otlpJSONBytes().count }),
            BenchCodec(
                name: "zipkin-v2-json", bytes: zipkin,
                decode: { (try? ZipkinV2JSON.decode(zipkin))?.resourceSpans.count ?? 0 },
                encode: { ZipkinV2JSON.encode(request).count }),
            BenchCodec(name: "jaeger-ui-json", bytes: jaeger, decode: nil, encode: { JaegerUIJSON.encode(request).count }),
        ]
    }
}
