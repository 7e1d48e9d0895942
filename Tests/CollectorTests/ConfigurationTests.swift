import Collector
import Foundation
import Testing
import Yams

@Suite struct ConfigurationTests {
    @Test func shippedConfigFileParsesToTheDefaults() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/collector.yaml").path
        let configuration = try CollectorConfiguration.load(path: path, environment: [:])
        #expect(configuration.otlp == CollectorConfiguration.Receiver(host: "127.0.0.1", port: 4318, maxRequestBodySize: 20 << 20))
        #expect(configuration.zipkin?.port == 9411)
        #expect(configuration.queryPort == 8686)
        #expect(configuration.dataDirectory == "./.causeway")
        #expect(configuration.memoryLimitBytes == 512 << 20)
        #expect(configuration.memorySoftLimitBytes == 412 << 20)
        // The stitcher's bound (500,000 held spans at about 500 bytes) is left out of the queue's.
        #expect(configuration.pipelineQueueLimitBytes == (412 << 20) - 250_000_000)
        #expect(configuration.memoryCheckInterval == .milliseconds(250))
        #expect(configuration.traces?.receivers == ["otlp", "zipkin"])
        #expect(configuration.logs?.receivers == ["otlp"])
        #expect(configuration.retentionMaxAgeSeconds == 72 * 3600)
        #expect(configuration.correlationAttributes == ["messaging.message.conversation_id", "correlation.id", "correlation_id"])
    }

    @Test func memoryLimiterSpikeDefaultsToAFifthAndMustBeUnderTheLimit() throws {
        let defaults = try CollectorConfiguration.parse(yaml: "processors:\n  memory_limiter:\n    limit_bytes: 100MiB\n", environment: [:])
        #expect(defaults.memorySoftLimitBytes == 80 << 20)
        let yaml = """
            processors:
              memory_limiter:
                limit_bytes: 100MiB
                spike_limit_bytes: 100MiB
            """
        #expect(throws: CollectorConfigurationError(
            key: "processors.memory_limiter.spike_limit_bytes", line: 4, reason: "must be less than limit_bytes (104857600 bytes), got 104857600")
        ) {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        }
        #expect(throws: CollectorConfigurationError(key: "processors.memory_limiter.check_interval", line: 3, reason: "must be more than 0")) {
            try CollectorConfiguration.parse(yaml: "processors:\n  memory_limiter:\n    check_interval: 0s\n", environment: [:])
        }
    }

    @Test func unknownKeyIsAnErrorNamingTheKeyAndLine() throws {
        let yaml = """
            receivers:
              otlp:
                protocols:
                  http:
                    endpont: 127.0.0.1:4318
            """
        #expect(throws: CollectorConfigurationError(key: "receivers.otlp.protocols.http.endpont", line: 5, reason: "unknown key; expected one of auth, endpoint, max_request_body_size")) {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        }
    }

    @Test func environmentVariablesAreSubstitutedWithDefaults() throws {
        let yaml = """
            receivers:
              otlp:
                protocols:
                  http:
                    endpoint: ${env:HOST:-0.0.0.0}:${env:PORT}
                    auth:
                      bearer_token: ${env:TOKEN:-}
            causeway:
              data_dir: $${env:NOT}/data
            """
        let configuration = try CollectorConfiguration.parse(yaml: yaml, environment: ["PORT": "14318"])
        #expect(configuration.otlp == CollectorConfiguration.Receiver(host: "0.0.0.0", port: 14318))
        #expect(configuration.dataDirectory == "${env:NOT}/data")
    }

    @Test func unsetEnvironmentVariableWithoutDefaultIsAnError() throws {
        let yaml = """
            causeway:
              data_dir: ${env:CAUSEWAY_NOT_SET}
            """
        #expect {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        } throws: { error in
            let fault = error as? CollectorConfigurationError
            return fault?.key == "causeway.data_dir" && fault?.line == 2 && fault!.reason.contains("CAUSEWAY_NOT_SET")
        }
    }

    @Test func pipelineNamingAnUndefinedExporterIsAnError() throws {
        let yaml = """
            exporters:
              zipkin:
                endpoint: http://127.0.0.1:9411/api/v2/spans
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [zipkin, otlphttp/jaeger]
            """
        #expect(throws: CollectorConfigurationError(key: "service.pipelines.traces.exporters", line: 8, reason: "exporter \"otlphttp/jaeger\" is not defined under exporters:")) {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        }
    }

    @Test func exporterSectionsArePassedOnWithSubstitutedValuesAndMarks() throws {
        let yaml = """
            exporters:
              otlphttp/jaeger:
                endpoint: ${env:JAEGER}
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  exporters: [otlphttp/jaeger]
            """
        let configuration = try CollectorConfiguration.parse(yaml: yaml, environment: ["JAEGER": "http://jaeger:4318"])
        let exporter = try #require(configuration.exporters.first)
        #expect(exporter.name == "otlphttp/jaeger")
        #expect(exporter.node?["endpoint"]?.string == "http://jaeger:4318")
        #expect(exporter.node?["endpoint"]?.mark?.line == 3)
        #expect(configuration.traces?.exporters == ["otlphttp/jaeger"])
        #expect(configuration.logs == nil)
    }

    @Test func malformedValueIsAnErrorNamingTheKey() throws {
        let yaml = """
            processors:
              memory_limiter:
                limit_bytes: lots
            """
        #expect {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        } throws: { error in
            (error as? CollectorConfigurationError)?.key == "processors.memory_limiter.limit_bytes"
                && (error as? CollectorConfigurationError)?.line == 3
        }
    }

    @Test func zipkinReceiverInTheLogsPipelineIsAnError() throws {
        let yaml = """
            service:
              pipelines:
                logs:
                  receivers: [zipkin]
            """
        #expect(throws: CollectorConfigurationError.self) {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        }
    }

    @Test func exportFlagsAddAnExporterToThePipelinesOfItsSignals() throws {
        var configuration = CollectorConfiguration()
        configuration.addEndpointExporter(name: "otlphttp", endpoint: "http://jaeger:4318", traces: true, logs: true)
        configuration.addEndpointExporter(name: "zipkin", endpoint: "http://zipkin:9411/api/v2/spans", traces: true, logs: false)
        #expect(configuration.traces?.exporters == ["otlphttp", "zipkin"])
        #expect(configuration.logs?.exporters == ["otlphttp"])
        #expect(configuration.exporters.first?.node?["endpoint"]?.string == "http://jaeger:4318")
    }
}
