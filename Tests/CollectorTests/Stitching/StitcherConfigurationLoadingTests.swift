import Collector
import Foundation
import Testing

@Suite struct StitcherConfigurationLoadingTests {
    @Test func shippedConfigFileEnablesTheStitcherWithItsDefaults() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("config/collector.yaml").path
        let stitcher = try #require(try CollectorConfiguration.load(path: path, environment: [:]).stitcher)
        let defaults = StitcherConfiguration()
        #expect(stitcher.idleWindow == defaults.idleWindow)
        #expect(stitcher.retention == defaults.retention)
        #expect(stitcher.maxOpenChains == defaults.maxOpenChains)
        #expect(stitcher.maxOpenSpans == defaults.maxOpenSpans)
        #expect(stitcher.maxRetainedSpans == defaults.maxRetainedSpans)
        #expect(stitcher.unconsumedWindow == defaults.unconsumedWindow)
        #expect(stitcher.deadLetterTopicPatterns == defaults.deadLetterTopicPatterns)
        #expect(stitcher.deadLetterAttributes == defaults.deadLetterAttributes)
        #expect(stitcher.duplicateSkippedEvents == defaults.duplicateSkippedEvents)
        #expect(stitcher.correlationAttributes == defaults.correlationAttributes)
        #expect(stitcher.messageTimestampAttribute == defaults.messageTimestampAttribute)
    }

    @Test func stitcherSectionSetsEveryKey() throws {
        let yaml = """
            processors:
              stitcher:
                idle_window: 250ms
                retention: 5m
                max_open_chains: 10
                max_open_spans: 20
                max_retained_spans: 30
                unconsumed_window: 2s
                unconsumed_window_by_topic: {slow: 1h}
                topics_without_consumers: [audit.*]
                dead_letter_topic_patterns: ["*.dead"]
                dead_letter_attributes: [dead]
                duplicate_skipped_events: [dup]
                correlation_attributes: [order.id]
                message_timestamp_attribute: ts
            """
        let stitcher = try #require(try CollectorConfiguration.parse(yaml: yaml, environment: [:]).stitcher)
        #expect(stitcher.idleWindow == .milliseconds(250))
        #expect(stitcher.retention == .seconds(300))
        #expect(stitcher.maxOpenChains == 10)
        #expect(stitcher.maxOpenSpans == 20)
        #expect(stitcher.maxRetainedSpans == 30)
        #expect(stitcher.unconsumedWindow == .seconds(2))
        #expect(stitcher.unconsumedWindowByTopic == ["slow": .seconds(3600)])
        #expect(stitcher.topicsWithoutConsumers == ["audit.*"])
        #expect(stitcher.deadLetterTopicPatterns == ["*.dead"])
        #expect(stitcher.deadLetterAttributes == ["dead"])
        #expect(stitcher.duplicateSkippedEvents == ["dup"])
        #expect(stitcher.correlationAttributes == ["order.id"])
        #expect(stitcher.messageTimestampAttribute == "ts")
    }

    @Test func stitcherWithoutItsOwnCorrelationAttributesUsesTheCollectors() throws {
        let yaml = """
            causeway:
              correlation:
                attributes: [order.id]
            """
        #expect(try CollectorConfiguration.parse(yaml: yaml, environment: [:]).stitcher?.correlationAttributes == ["order.id"])
        let own = """
            processors:
              stitcher:
                correlation_attributes: [saga.id]
            causeway:
              correlation:
                attributes: [order.id]
            """
        #expect(try CollectorConfiguration.parse(yaml: own, environment: [:]).stitcher?.correlationAttributes == ["saga.id"])
    }

    @Test func unknownStitcherKeyIsAnErrorNamingTheKeyAndLine() throws {
        let yaml = """
            processors:
              stitcher:
                idle_windw: 1s
            """
        #expect(throws: CollectorConfigurationError(
            key: "processors.stitcher.idle_windw", line: 3,
            reason: "unknown key; expected one of correlation_attributes, dead_letter_attributes, dead_letter_topic_patterns, duplicate_skipped_events, idle_window, max_open_chains, max_open_spans, max_retained_spans, message_timestamp_attribute, retention, topics_without_consumers, unconsumed_window, unconsumed_window_by_topic"
        )) {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        }
    }

    @Test func malformedStitcherValueIsAnErrorNamingTheKey() throws {
        let yaml = """
            processors:
              stitcher:
                max_open_chains: 0
            """
        #expect(throws: CollectorConfigurationError(key: "processors.stitcher.max_open_chains", line: 3, reason: "must be positive")) {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        }
    }

    @Test func tracesPipelineWithoutTheStitcherTurnsItOff() throws {
        let yaml = """
            service:
              pipelines:
                traces:
                  receivers: [otlp]
                  processors: [memory_limiter]
            processors:
              memory_limiter:
                limit_bytes: 1MiB
            """
        #expect(try CollectorConfiguration.parse(yaml: yaml, environment: [:]).stitcher == nil)
    }

    @Test func stitcherInTheLogsPipelineIsAnError() throws {
        let yaml = """
            service:
              pipelines:
                logs:
                  receivers: [otlp]
                  processors: [stitcher]
            """
        #expect(throws: CollectorConfigurationError(
            key: "service.pipelines.logs.processors", line: 5, reason: "the stitcher takes spans only; list it in the traces pipeline"
        )) {
            try CollectorConfiguration.parse(yaml: yaml, environment: [:])
        }
    }
}
