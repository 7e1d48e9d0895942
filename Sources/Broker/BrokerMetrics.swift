import KafkaWire
import Prometheus

/// The broker's Prometheus series. `PrometheusCollectorRegistry` is thread-safe and hands
/// back the same metric for the same name and labels, so callers just look them up.
package final class BrokerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let connections: Gauge

    package init() {
        connections = registry.makeGauge(descriptor: Self.name("connections", unit: "", help: "Open client connections"))
    }

    private static func name(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "causeway", subsystem: "broker", metricName: metric, unitName: unit, helpText: help)
    }

    func recordIn(topic: String, bytes: Int, messages: Int) {
        registry.makeCounter(descriptor: Self.name("bytes_in", unit: "total", help: "Record batch bytes appended"), labels: [("topic", topic)]).increment(by: Int64(bytes))
        registry.makeCounter(descriptor: Self.name("messages_in", unit: "total", help: "Records appended"), labels: [("topic", topic)]).increment(by: Int64(messages))
    }

    func recordOut(topic: String, bytes: Int) {
        registry.makeCounter(descriptor: Self.name("bytes_out", unit: "total", help: "Record batch bytes served to fetchers"), labels: [("topic", topic)]).increment(by: Int64(bytes))
    }

    func recordMessagesOut(topic: String, messages: Int) {
        registry.makeCounter(descriptor: Self.name("messages_out", unit: "total", help: "Records served to fetchers"), labels: [("topic", topic)]).increment(by: Int64(messages))
    }

    func requestLatency(api: String, duration: Duration) {
        registry.makeDurationHistogram(
            descriptor: Self.name("request_duration", unit: "seconds", help: "Time from a request's arrival to its response, long-poll waits included"),
            labels: [("api", api)],
            buckets: [.microseconds(100), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5)]
        ).record(duration)
    }

    func connectionOpened() { connections.increment() }
    func connectionClosed() { connections.decrement() }

    func setLag(group: String, partition: TopicPartition, lag: Int64) {
        registry.makeGauge(
            descriptor: Self.name("consumer_lag", unit: "", help: "High watermark minus the group's committed offset"),
            labels: [("group", group), ("topic", partition.topic), ("partition", "\(partition.partition)")]
        ).set(Double(lag))
    }
}
