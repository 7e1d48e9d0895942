@testable import EventTracingOTLP
import Telemetry
import Testing

@Suite("OTLPConfiguration from OTEL_* environment variables")
struct OTLPConfigurationTests {
    static func read(_ environment: [String: String]) -> (OTLPConfiguration, [String]) {
        var reader = EnvironmentReader(environment: environment)
        let configuration = reader.read(serviceName: "fallback", serviceVersion: nil)
        return (configuration, reader.problems)
    }

    @Test("no variables: the spec's defaults")
    func defaults() {
        let (configuration, problems) = Self.read([:])
        #expect(problems.isEmpty)
        #expect(configuration.serviceName == "fallback")
        #expect(configuration.exporter.tracesEndpoint == "http://localhost:4318/v1/traces")
        #expect(configuration.exporter.logsEndpoint == "http://localhost:4318/v1/logs")
        #expect(configuration.exporter.wireProtocol == .httpProtobuf)
        #expect(configuration.exporter.compression == .none)
        #expect(configuration.exporter.timeout == .seconds(10))
        #expect(configuration.sampler == .parentBasedAlwaysOn)
        #expect(configuration.spanBatch == OTLPBatchConfiguration())
        #expect(configuration.logBatch.scheduleDelay == .seconds(1))
        #expect(!configuration.isDisabled)
    }

    @Test("OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES")
    func serviceNamePrecedence() {
        let (both, _) = Self.read(["OTEL_SERVICE_NAME": "orders", "OTEL_RESOURCE_ATTRIBUTES": "service.name=other"])
        #expect(both.serviceName == "orders")
        let (attributesOnly, _) = Self.read(["OTEL_RESOURCE_ATTRIBUTES": "service.name=other"])
        #expect(attributesOnly.serviceName == "other")
    }

    @Test("OTEL_RESOURCE_ATTRIBUTES values are percent-decoded")
    func resourceAttributesDecoded() {
        let (configuration, problems) = Self.read([
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod%20eu, team=caf%C3%A9,service.version=1.2"
        ])
        #expect(problems.isEmpty)
        #expect(configuration.resourceAttributes == [
            KeyValue("deployment.environment", "prod eu"), KeyValue("team", "café"),
        ])
        #expect(configuration.serviceVersion == "1.2")
    }

    @Test("an invalid OTEL_RESOURCE_ATTRIBUTES is discarded whole, with a message naming it")
    func invalidResourceAttributes() {
        let (configuration, problems) = Self.read(["OTEL_RESOURCE_ATTRIBUTES": "a=1,broken,b=%zz"])
        #expect(configuration.resourceAttributes.isEmpty)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("OTEL_RESOURCE_ATTRIBUTES") == true)
    }

    @Test("OTEL_EXPORTER_OTLP_ENDPOINT is a base URL with the signal paths appended")
    func baseEndpoint() {
        let (configuration, _) = Self.read(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"])
        #expect(configuration.exporter.tracesEndpoint == "http://collector:4318/v1/traces")
        #expect(configuration.exporter.logsEndpoint == "http://collector:4318/v1/logs")
    }

    @Test("per-signal endpoints are used as they are and win over the base URL")
    func perSignalEndpoints() {
        let (configuration, _) = Self.read([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example:443/custom",
        ])
        #expect(configuration.exporter.tracesEndpoint == "https://traces.example:443/custom")
        #expect(configuration.exporter.logsEndpoint == "http://collector:4318/v1/logs")
    }

    @Test("an endpoint that is not an http(s) URL is reported and the default kept")
    func invalidEndpoint() {
        let (configuration, problems) = Self.read(["OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"])
        #expect(configuration.exporter.tracesEndpoint == "http://localhost:4318/v1/traces")
        #expect(problems == ["OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318 is not an http:// or https:// URL; using http://localhost:4318"])
    }

    @Test("headers are parsed and percent-decoded, common and per signal")
    func headers() {
        let (configuration, _) = Self.read([
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20abc,X-A=1",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "X-Logs=yes",
        ])
        #expect(configuration.exporter.headers.map(\.name) == ["Authorization", "X-A"])
        #expect(configuration.exporter.headers.first?.value == "Bearer abc")
        #expect(configuration.exporter.logsHeaders.map(\.value) == ["yes"])
        #expect(configuration.exporter.tracesHeaders.isEmpty)
    }

    @Test("compression, protocol and timeout are read; invalid values are reported with the default used")
    func compressionProtocolTimeout() {
        let (valid, none) = Self.read([
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        ])
        #expect(none.isEmpty)
        #expect(valid.exporter.compression == .gzip)
        #expect(valid.exporter.wireProtocol == .httpJSON)
        #expect(valid.exporter.timeout == .milliseconds(2500))
        let (invalid, problems) = Self.read([
            "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "soon",
        ])
        #expect(invalid.exporter.compression == .none)
        #expect(invalid.exporter.wireProtocol == .httpProtobuf)
        #expect(invalid.exporter.timeout == .seconds(10))
        #expect(problems.count == 3)
        #expect(problems.contains { $0.hasPrefix("OTEL_EXPORTER_OTLP_COMPRESSION=zstd") && $0.hasSuffix("using none") })
        #expect(problems.contains { $0.hasPrefix("OTEL_EXPORTER_OTLP_PROTOCOL=grpc") })
        #expect(problems.contains { $0.hasPrefix("OTEL_EXPORTER_OTLP_TIMEOUT=soon") && $0.hasSuffix("using 10000") })
    }

    @Test("per-signal protocol, compression and timeout win over the common ones")
    func perSignalSettings() {
        let (configuration, problems) = Self.read([
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
            "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "500",
            "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "brotli",
        ])
        let exporter = configuration.exporter
        #expect(exporter.tracesOverrides == OTLPExporterConfiguration.SignalOverrides(wireProtocol: .httpJSON))
        #expect(exporter.logsOverrides == OTLPExporterConfiguration.SignalOverrides(compression: OTLPExporterConfiguration.Compression.none, timeout: .milliseconds(500)))
        #expect(problems == ["OTEL_EXPORTER_OTLP_TRACES_COMPRESSION=brotli is not gzip or none; using gzip"])
        let traces = exporter.effective(exporter.tracesOverrides)
        #expect(traces.wireProtocol == .httpJSON && traces.compression == .gzip && traces.timeout == .seconds(10))
    }

    @Test("every OTEL_TRACES_SAMPLER value the SDK supports, with its argument")
    func samplers() {
        let cases: [(String, String?, OTLPSampler)] = [
            ("always_on", nil, .alwaysOn),
            ("always_off", nil, .alwaysOff),
            ("traceidratio", "0.1", OTLPSampler(root: .traceIDRatio(0.1), parentBased: false)),
            ("parentbased_always_on", nil, .parentBasedAlwaysOn),
            ("parentbased_always_off", nil, OTLPSampler(root: .alwaysOff)),
            ("parentbased_traceidratio", "0.25", OTLPSampler(root: .traceIDRatio(0.25))),
            ("traceidratio", nil, OTLPSampler(root: .traceIDRatio(1), parentBased: false)),
        ]
        for (name, argument, expected) in cases {
            var environment = ["OTEL_TRACES_SAMPLER": name]
            environment["OTEL_TRACES_SAMPLER_ARG"] = argument
            #expect(Self.read(environment).0.sampler == expected, "\(name)")
        }
    }

    @Test("an unknown sampler or a bad ratio is reported with the default used")
    func invalidSampler() {
        let (unknown, problems) = Self.read(["OTEL_TRACES_SAMPLER": "jaeger_remote"])
        #expect(unknown.sampler == .parentBasedAlwaysOn)
        #expect(problems == ["OTEL_TRACES_SAMPLER=jaeger_remote is not supported; using parentbased_always_on"])
        let (badRatio, ratioProblems) = Self.read(["OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"])
        #expect(badRatio.sampler == OTLPSampler(root: .traceIDRatio(1), parentBased: false))
        #expect(ratioProblems == ["OTEL_TRACES_SAMPLER_ARG=1.5 is not a ratio between 0 and 1; using 1.0"])
    }

    @Test("OTEL_BSP_* and OTEL_BLRP_* set the batch processors")
    func batchSettings() {
        let (configuration, problems) = Self.read([
            "OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_SCHEDULE_DELAY": "250", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "10",
            "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "4096",
        ])
        #expect(configuration.spanBatch == OTLPBatchConfiguration(maxQueueSize: 100, scheduleDelay: .milliseconds(250), maxExportBatchSize: 10))
        #expect(configuration.logBatch.maxExportBatchSize == 2048)
        #expect(problems.count == 1)
    }

    @Test("span limits come from the general and the span-specific variables")
    func spanLimits() {
        let (configuration, _) = Self.read([
            "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "64", "OTEL_ATTRIBUTE_COUNT_LIMIT": "32",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "16", "OTEL_SPAN_EVENT_COUNT_LIMIT": "8", "OTEL_SPAN_LINK_COUNT_LIMIT": "4",
        ])
        #expect(configuration.spanLimits.attributeValueLength == 64)
        #expect(configuration.spanLimits.attributeCount == 16)
        #expect(configuration.spanLimits.eventCount == 8)
        #expect(configuration.spanLimits.linkCount == 4)
    }

    @Test("OTEL_SDK_DISABLED=true disables the SDK; other values are false, odd ones reported")
    func sdkDisabled() {
        #expect(Self.read(["OTEL_SDK_DISABLED": "TRUE"]).0.isDisabled)
        #expect(!Self.read(["OTEL_SDK_DISABLED": "false"]).0.isDisabled)
        let (odd, problems) = Self.read(["OTEL_SDK_DISABLED": "yes"])
        #expect(!odd.isDisabled)
        #expect(problems == ["OTEL_SDK_DISABLED=yes is not true or false; using false"])
    }

    @Test("OTEL_TRACES_EXPORTER and OTEL_LOGS_EXPORTER choose otlp or none")
    func exporterSelection() {
        let (configuration, problems) = Self.read(["OTEL_TRACES_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "none"])
        #expect(configuration.exportsTraces)
        #expect(!configuration.exportsLogs)
        #expect(problems.isEmpty)
        let (unsupported, messages) = Self.read(["OTEL_TRACES_EXPORTER": "zipkin"])
        #expect(unsupported.exportsTraces)
        #expect(messages == ["OTEL_TRACES_EXPORTER=zipkin is not supported (otlp or none); using otlp"])
    }

    @Test("an empty variable counts as unset")
    func emptyIsUnset() {
        let (configuration, problems) = Self.read(["OTEL_SERVICE_NAME": "", "OTEL_EXPORTER_OTLP_COMPRESSION": " "])
        #expect(configuration.serviceName == "fallback")
        #expect(problems.isEmpty)
    }

    @Test("the resource has the service, host, process and telemetry.sdk attributes")
    func resource() {
        var configuration = OTLPConfiguration(serviceName: "orders", serviceVersion: "2.0")
        configuration.resourceAttributes = [KeyValue("deployment.environment", "test"), KeyValue("service.name", "ignored")]
        let attributes = configuration.resource.attributes
        #expect(attributes[key: "service.name"] == .string("orders"))
        #expect(attributes[key: "service.version"] == .string("2.0"))
        #expect(attributes[key: "telemetry.sdk.name"] == .string("causeway"))
        #expect(attributes[key: "telemetry.sdk.language"] == .string("swift"))
        #expect(attributes[key: "telemetry.sdk.version"] == .string(OTLPResource.sdkVersion))
        #expect(attributes[key: "deployment.environment"] == .string("test"))
        #expect(attributes[key: "host.name"] != nil)
        #expect(attributes[key: "process.executable.name"] != nil)
        if case .int(let pid)? = attributes[key: "process.pid"] { #expect(pid > 0) } else { Issue.record("no process.pid") }
        #expect(attributes.filter { $0.key == "service.name" }.count == 1)
    }

    @Test("without any name the service is unknown_service:<executable>")
    func unknownService() {
        let name = OTLPConfiguration().resource.serviceName
        #expect(name?.hasPrefix("unknown_service:") == true)
    }
}

@Suite("Retry-After")
struct RetryAfterTests {
    @Test("delay-seconds")
    func seconds() {
        #expect(RetryAfter.delay("3", nowUnixSeconds: 0) == .seconds(3))
        #expect(RetryAfter.delay(" 0 ", nowUnixSeconds: 0) == .seconds(0))
    }

    @Test("an IMF-fixdate in the future is the time until then; in the past, now")
    func httpDate() {
        // Sun, 06 Nov 1994 08:49:37 GMT is 784111777 (RFC 9110 §5.6.7's example).
        #expect(RetryAfter.imfFixdate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:49:37 GMT", nowUnixSeconds: 784_111_770) == .seconds(7))
        #expect(RetryAfter.delay("Sun, 06 Nov 1994 08:49:37 GMT", nowUnixSeconds: 784_111_800) == .seconds(0))
    }

    @Test("the obsolete RFC 850 and asctime forms are accepted")
    func obsoleteForms() {
        #expect(RetryAfter.imfFixdate("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(RetryAfter.imfFixdate("Sun Nov  6 08:49:37 1994") == 784_111_777)
    }

    @Test("anything else is no delay at all")
    func garbage() {
        #expect(RetryAfter.delay("soon", nowUnixSeconds: 0) == nil)
        #expect(RetryAfter.delay("-1", nowUnixSeconds: 0) == nil)
        #expect(RetryAfter.delay("Sun, 32 Nov 1994 08:49:37 GMT", nowUnixSeconds: 0) == nil)
    }
}
