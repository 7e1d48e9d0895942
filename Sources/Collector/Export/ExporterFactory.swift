package import Logging
package import Yams
import Foundation

/// Builds the exporters named in the configuration's `exporters:` section.
package enum ExporterFactory {
    /// The exporter types, by the part of the name before `/`.
    static let types = ["otlphttp", "zipkin"]

    /// Makes the exporter `name` (`otlphttp`, `otlphttp/jaeger`, `zipkin`, `zipkin/main` …:
    /// the part before `/` is the type) from its YAML node. Its persistent queue lives under
    /// `dataDirectory/exporters/<name with / replaced by _>/`.
    ///
    /// Throws ``ExporterConfigurationError`` for an unknown type, an unknown key or a bad
    /// value (naming the key and line), and ``ExportQueueError`` when the queue directory
    /// cannot be opened.
    package static func make(
        name: String,
        configuration: Node?,
        dataDirectory: String,
        logger: Logger
    ) throws -> any TelemetryConsumer {
        let settings = try settings(name: name, configuration: configuration)
        return try QueuedHTTPExporter(settings: settings, directory: queueDirectory(name: name, dataDirectory: dataDirectory), logger: logger)
    }

    /// The checked settings of exporter `name`, without opening anything.
    static func settings(name: String, configuration: Node?) throws(ExporterConfigurationError) -> ExporterSettings {
        let type = name.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? name
        do {
            switch type {
            case "otlphttp": return try ExporterSettings.otlpHTTP(name: name, node: configuration)
            case "zipkin": return try ExporterSettings.zipkin(name: name, node: configuration)
            default:
                throw ExporterConfigurationError(
                    name: name, line: configuration?.mark?.line,
                    reason: "unknown exporter type '\(type)'; expected one of \(types.joined(separator: ", "))")
            }
        } catch let error as ExporterConfigurationError {
            throw error
        } catch {
            throw ExporterConfigurationError(name: name, line: configuration?.mark?.line, reason: "\(error)")
        }
    }

    static func queueDirectory(name: String, dataDirectory: String) -> String {
        let folder = name.replacingOccurrences(of: "/", with: "_")
        return (dataDirectory.hasSuffix("/") ? String(dataDirectory.dropLast()) : dataDirectory) + "/exporters/" + folder
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
