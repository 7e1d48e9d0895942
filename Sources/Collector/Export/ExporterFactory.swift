public import Logging
public import Yams

/// Builds the exporters named in the configuration's `exporters:` section.
package enum ExporterFactory {
    /// Makes the exporter `name` (`otlphttp`, `otlphttp/jaeger`, `zipkin`, `zipkin/main` …:
    /// the part before `/` is the type) from its YAML node. Its persistent queue lives under
    /// `dataDirectory`.
    package static func make(
        name: String,
        configuration: Node?,
        dataDirectory: String,
        logger: Logger
    ) throws -> any TelemetryConsumer {
        throw ExporterConfigurationError(name: name, line: configuration?.mark?.line, reason: "no exporters are built yet")
    }
}

/// A configuration fault in one exporter's section, naming the exporter, the line and what is wrong.
package struct ExporterConfigurationError: Error, CustomStringConvertible {
    package var name: String
    package var line: Int?
    package var reason: String

    package init(name: String, line: Int?, reason: String) {
        self.name = name
        self.line = line
        self.reason = reason
    }

    package var description: String {
        let place = line.map { " (line \($0))" } ?? ""
        return "exporters.\(name)\(place): \(reason)"
    }
}
