import Logging
import Testing
import Yams

@testable import Collector

@Suite("Exporter configuration")
struct ExporterConfigurationTests {
    func fault(_ name: String, _ yaml: String) throws -> ExporterConfigurationError? {
        let node = try Yams.compose(yaml: yaml)
        do {
            _ = try ExporterFactory.settings(name: name, configuration: node)
            return nil
        } catch {
            return error
        }
    }

    @Test func anUnknownKeyIsNamedWithItsLine() throws {
        let error = try #require(try fault("otlphttp", "endpoint: http://localhost:4318\nendpont: http://x\n"))
        #expect(error.line == 2)
        #expect(error.description.contains("unknown key 'endpont'"))
        #expect(error.description.hasPrefix("exporters.otlphttp (line 2)"))
    }

    @Test func aBadNestedValueIsNamedByItsPathAndLine() throws {
        let yaml = """
            endpoint: http://localhost:4318
            retry_on_failure:
              enabled: true
              initial_interval: soon
            """
        let error = try #require(try fault("otlphttp/jaeger", yaml))
        #expect(error.line == 4)
        #expect(error.description.contains("retry_on_failure.initial_interval"))
        #expect(error.description.contains("'soon'"))
    }

    @Test func badEncodingCompressionAndURLAreRefused() throws {
        #expect(try fault("otlphttp", "endpoint: http://h:4318\nencoding: xml\n")?.description.contains("encoding") == true)
        #expect(try fault("otlphttp", "endpoint: http://h:4318\ncompression: zstd\n")?.description.contains("compression") == true)
        for level in ["0", "10", "fast"] {
            let fault = try fault("otlphttp", "endpoint: http://h:4318\ncompression_params:\n  level: \(level)\n")?.description ?? ""
            #expect(fault.contains("compression_params.level") && fault.contains(level), "\(fault)")
        }
        #expect(try fault("otlphttp", "endpoint: localhost:4318\n")?.description.contains("endpoint") == true)
        #expect(try fault("zipkin", "format: json\n")?.description.contains("endpoint is required") == true)
        #expect(try fault("zipkin", "endpoint: http://h:9411/api/v2/spans\nformat: proto\n")?.line == 2)
        #expect(try fault("otlphttp", "endpoint: http://h\nsending_queue:\n  max_bytes: lots\n")?.line == 3)
    }

    @Test func anUnknownTypeIsNamed() throws {
        let error = try #require(try fault("kafka/out", "brokers: [a]\n"))
        #expect(error.description.contains("unknown exporter type 'kafka'"))
    }

    @Test func aBaseEndpointGetsTheSignalPaths() throws {
        let settings = try ExporterFactory.settings(name: "otlphttp", configuration: try Yams.compose(yaml: "endpoint: http://h:4318/\n"))
        #expect(settings.tracesURL == "http://h:4318/v1/traces")
        #expect(settings.logsURL == "http://h:4318/v1/logs")
        #expect(settings.tracesFormat == .otlpProtobuf)
        #expect(settings.gzip)
        #expect(settings.gzipLevel == 1)
        #expect(settings.retry.maxElapsedTime == nil)
        #expect(settings.queue.maxBytes == 256 << 20)
    }

    @Test func everyKeyIsRead() throws {
        let yaml = """
            endpoint: http://h:4318
            traces_endpoint: http://t:1/v1/traces
            logs_endpoint: http://l:2/v1/logs
            encoding: json
            compression: none
            compression_params:
              level: 6
            headers: {a: b}
            timeout: 1m30s
            retry_on_failure:
              enabled: false
              initial_interval: 250ms
              max_interval: 2s
              max_elapsed_time: 0
              multiplier: 2
              randomization_factor: 0
            sending_queue:
              max_bytes: 64MiB
              queue_size: 10
              num_consumers: 4
            """
        let settings = try ExporterFactory.settings(name: "otlphttp", configuration: try Yams.compose(yaml: yaml))
        #expect(settings.tracesURL == "http://t:1/v1/traces")
        #expect(settings.logsURL == "http://l:2/v1/logs")
        #expect(settings.tracesFormat == .otlpJSON)
        #expect(!settings.gzip)
        #expect(settings.gzipLevel == 6)
        #expect(settings.headers.map(\.name) == ["a"])
        #expect(settings.timeout == .seconds(90))
        #expect(settings.retry == RetrySettings(
            enabled: false, initialInterval: .milliseconds(250), maxInterval: .seconds(2), maxElapsedTime: nil, multiplier: 2,
            randomizationFactor: 0))
        #expect(settings.queue == QueueLimits(maxBytes: 64 << 20, maxBatches: 10, consumers: 4))
    }

    @Test func backoffGrowsAndIsCapped() {
        let retry = RetrySettings(initialInterval: .milliseconds(100), maxInterval: .milliseconds(300), multiplier: 2, randomizationFactor: 0)
        var generator = SystemRandomNumberGenerator()
        #expect(retry.backoff(retry: 1, using: &generator) == .milliseconds(100))
        #expect(retry.backoff(retry: 2, using: &generator) == .milliseconds(200))
        #expect(retry.backoff(retry: 5, using: &generator) == .milliseconds(300))
    }

    @Test func theFlagNodeMakesAWorkingExporter() async throws {
        let data = try ExporterFixture.temporaryDirectory()
        defer { ExporterFixture.remove(data) }
        let exporter = try ExporterFactory.make(
            name: "zipkin", configuration: try Yams.compose(yaml: "endpoint: http://127.0.0.1:9411/api/v2/spans\n"),
            dataDirectory: data, logger: Logger(label: "test"))
        #expect(exporter.name == "zipkin")
        await exporter.shutdown()
    }
}
