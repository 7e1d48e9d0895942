import Foundation
import Yams

extension CollectorConfiguration {
    /// Reads the configuration file at `path`; see `config/collector.yaml` for every key.
    package static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CollectorConfiguration {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CollectorConfigurationError(key: "", line: nil, reason: "cannot read \(path): \(error.localizedDescription)")
        }
        return try parse(yaml: text, environment: environment)
    }

    /// Reads a configuration from YAML text. Keys the collector does not know are errors,
    /// so that a typo is not silently ignored.
    package static func parse(yaml: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> CollectorConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw CollectorConfigurationError(key: "", line: nil, reason: "not valid YAML: \(error)")
        }
        var configuration = CollectorConfiguration()
        guard let root, !ConfigSection.isNull(root) else { return configuration }
        let reader = ConfigReader(environment: environment)
        let top = try reader.section(root, path: "")
        try top.allow(["receivers", "processors", "exporters", "service", "extensions", "causeway"])

        var definedReceivers: Set<String> = []
        if let receiversNode = top["receivers"] {
            let receivers = try reader.section(receiversNode, path: "receivers")
            try receivers.allow(["otlp", "zipkin"])
            configuration.otlp = nil
            configuration.zipkin = nil
            if let otlpNode = receivers["otlp"] {
                definedReceivers.insert("otlp")
                let otlp = try reader.section(otlpNode, path: "receivers.otlp")
                try otlp.allow(["protocols"])
                var receiver = Receiver(host: "127.0.0.1", port: 4318)
                if let protocolsNode = otlp["protocols"] {
                    let protocols = try reader.section(protocolsNode, path: "receivers.otlp.protocols")
                    try protocols.allow(["http", "grpc"])
                    if let grpc = protocols["grpc"], !ConfigSection.isNull(grpc) {
                        throw CollectorConfigurationError(key: "receivers.otlp.protocols.grpc", line: grpc.mark?.line, reason: "OTLP/gRPC is not supported; use protocols.http")
                    }
                    if let httpNode = protocols["http"] {
                        receiver = try reader.receiver(httpNode, path: "receivers.otlp.protocols.http", defaults: receiver)
                    }
                }
                configuration.otlp = receiver
            }
            if let zipkinNode = receivers["zipkin"] {
                definedReceivers.insert("zipkin")
                configuration.zipkin = try reader.receiver(zipkinNode, path: "receivers.zipkin", defaults: Receiver(host: "127.0.0.1", port: 9411))
            }
        } else {
            definedReceivers = ["otlp", "zipkin"]
        }

        // The stitcher is built in: listing it in a pipeline without a section uses its defaults.
        var definedProcessors: Set<String> = ["stitcher"]
        var stitcher = StitcherConfiguration()
        var stitcherNamesCorrelation = false
        if let processorsNode = top["processors"] {
            let processors = try reader.section(processorsNode, path: "processors")
            try processors.allow(["memory_limiter", "stitcher"])
            if let stitcherNode = processors["stitcher"] {
                stitcher = try reader.stitcher(stitcherNode, path: "processors.stitcher")
                stitcherNamesCorrelation = try reader.section(stitcherNode, path: "processors.stitcher")["correlation_attributes"] != nil
            }
            if let limiterNode = processors["memory_limiter"] {
                definedProcessors.insert("memory_limiter")
                let limiter = try reader.section(limiterNode, path: "processors.memory_limiter")
                try limiter.allow(["limit_bytes", "spike_limit_bytes", "check_interval", "retry_after"])
                if let node = limiter["limit_bytes"] {
                    configuration.memoryLimitBytes = try reader.size(node, path: "processors.memory_limiter.limit_bytes")
                }
                if let node = limiter["spike_limit_bytes"] {
                    let spike = try reader.size(node, path: "processors.memory_limiter.spike_limit_bytes")
                    guard spike < configuration.memoryLimitBytes else {
                        throw CollectorConfigurationError(
                            key: "processors.memory_limiter.spike_limit_bytes", line: node.mark?.line,
                            reason: "must be less than limit_bytes (\(configuration.memoryLimitBytes) bytes), got \(spike)")
                    }
                    configuration.memorySpikeLimitBytes = spike
                }
                if let node = limiter["check_interval"] {
                    let interval = try reader.duration(node, path: "processors.memory_limiter.check_interval")
                    guard interval > .zero else {
                        throw CollectorConfigurationError(key: "processors.memory_limiter.check_interval", line: node.mark?.line, reason: "must be more than 0")
                    }
                    configuration.memoryCheckInterval = interval
                }
                if let node = limiter["retry_after"] {
                    configuration.retryAfterSeconds = max(1, try reader.seconds(node, path: "processors.memory_limiter.retry_after"))
                }
            }
        }

        if let exportersNode = top["exporters"] {
            let exporters = try reader.section(exportersNode, path: "exporters")
            for (name, _, value) in exporters.pairs {
                configuration.exporters.append((name, try reader.substituted(value, path: "exporters.\(name)")))
            }
        }
        let definedExporters = Set(configuration.exporters.map(\.name))

        if let serviceNode = top["service"] {
            let service = try reader.section(serviceNode, path: "service")
            try service.allow(["pipelines"])
            if let pipelinesNode = service["pipelines"] {
                let pipelines = try reader.section(pipelinesNode, path: "service.pipelines")
                try pipelines.allow(["traces", "logs"])
                configuration.traces = nil
                configuration.logs = nil
                configuration.stitcher = nil
                for (signal, _, node) in pipelines.pairs {
                    let path = "service.pipelines.\(signal)"
                    let pipeline = try reader.section(node, path: path)
                    try pipeline.allow(["receivers", "processors", "exporters"])
                    let receivers = try pipeline["receivers"].map { try reader.names($0, path: "\(path).receivers") } ?? []
                    for (name, line) in receivers where !definedReceivers.contains(name) {
                        throw CollectorConfigurationError(key: "\(path).receivers", line: line, reason: "receiver \"\(name)\" is not defined under receivers:")
                    }
                    if signal == "logs", let zipkin = receivers.first(where: { $0.name == "zipkin" }) {
                        throw CollectorConfigurationError(key: "\(path).receivers", line: zipkin.line, reason: "the zipkin receiver has no logs")
                    }
                    let processors = try pipeline["processors"].map { try reader.names($0, path: "\(path).processors") } ?? []
                    for (name, line) in processors where !definedProcessors.contains(name) {
                        throw CollectorConfigurationError(key: "\(path).processors", line: line, reason: "processor \"\(name)\" is not defined under processors:")
                    }
                    if signal == "logs", let listed = processors.first(where: { $0.name == "stitcher" }) {
                        throw CollectorConfigurationError(key: "\(path).processors", line: listed.line, reason: "the stitcher takes spans only; list it in the traces pipeline")
                    }
                    // Without a processors list the traces pipeline stitches, as by default.
                    if signal == "traces", pipeline["processors"] == nil || processors.contains(where: { $0.name == "stitcher" }) {
                        configuration.stitcher = stitcher
                    }
                    let exporters = try pipeline["exporters"].map { try reader.names($0, path: "\(path).exporters") } ?? []
                    for (name, line) in exporters where !definedExporters.contains(name) {
                        throw CollectorConfigurationError(key: "\(path).exporters", line: line, reason: "exporter \"\(name)\" is not defined under exporters:")
                    }
                    let value = Pipeline(receivers: receivers.map(\.name), exporters: exporters.map(\.name))
                    if signal == "traces" { configuration.traces = value } else { configuration.logs = value }
                }
            }
        }

        if top["service"] == nil || configuration.stitcher != nil {
            configuration.stitcher = stitcher
        }

        if let extensionsNode = top["extensions"], !ConfigSection.isNull(extensionsNode) {
            let extensions = try reader.section(extensionsNode, path: "extensions")
            try extensions.allow([])
        }

        if let causewayNode = top["causeway"] {
            let causeway = try reader.section(causewayNode, path: "causeway")
            try causeway.allow(["data_dir", "query", "store", "correlation"])
            if let node = causeway["data_dir"] {
                configuration.dataDirectory = try reader.string(node, path: "causeway.data_dir")
            }
            if let queryNode = causeway["query"] {
                let query = try reader.section(queryNode, path: "causeway.query")
                try query.allow(["endpoint"])
                if let node = query["endpoint"] {
                    (configuration.queryHost, configuration.queryPort) = try reader.endpoint(node, path: "causeway.query.endpoint")
                }
            }
            if let storeNode = causeway["store"] {
                let store = try reader.section(storeNode, path: "causeway.store")
                try store.allow(["retention"])
                if let retentionNode = store["retention"] {
                    let retention = try reader.section(retentionNode, path: "causeway.store.retention")
                    try retention.allow(["max_age", "max_size", "check_interval"])
                    if let node = retention["max_age"] {
                        configuration.retentionMaxAgeSeconds = try reader.seconds(node, path: "causeway.store.retention.max_age")
                    }
                    if let node = retention["max_size"] {
                        configuration.retentionMaxBytes = try reader.size(node, path: "causeway.store.retention.max_size")
                    }
                    if let node = retention["check_interval"] {
                        configuration.retentionIntervalSeconds = max(1, try reader.seconds(node, path: "causeway.store.retention.check_interval"))
                    }
                }
            }
            if let correlationNode = causeway["correlation"] {
                let correlation = try reader.section(correlationNode, path: "causeway.correlation")
                try correlation.allow(["attributes"])
                if let node = correlation["attributes"] {
                    configuration.correlationAttributes = try reader.names(node, path: "causeway.correlation.attributes").map(\.name)
                }
            }
        }
        // Without its own list the stitcher reads correlation IDs where the store does.
        if !stitcherNamesCorrelation, configuration.stitcher != nil {
            configuration.stitcher!.correlationAttributes = configuration.correlationAttributes
        }
        return configuration
    }
}

/// A YAML mapping of the configuration with its dotted path, for error messages.
struct ConfigSection {
    var path: String
    var line: Int?
    var pairs: [(key: String, line: Int?, value: Node)]

    subscript(key: String) -> Node? {
        pairs.first { $0.key == key }?.value
    }

    func allow(_ known: Set<String>) throws(CollectorConfigurationError) {
        for pair in pairs where !known.contains(pair.key) {
            let expected = known.isEmpty ? "nothing is expected here" : "expected one of \(known.sorted().joined(separator: ", "))"
            throw CollectorConfigurationError(key: child(pair.key), line: pair.line, reason: "unknown key; \(expected)")
        }
    }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }
}

/// Turns nodes into values, substituting `${env:…}` in every scalar and naming the key and
/// line of any fault.
struct ConfigReader {
    var environment: [String: String]

    func section(_ node: Node, path: String) throws(CollectorConfigurationError) -> ConfigSection {
        if ConfigSection.isNull(node) { return ConfigSection(path: path, line: node.mark?.line, pairs: []) }
        guard case .mapping(let mapping) = node else {
            throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: "expected a mapping of keys to values")
        }
        var pairs: [(key: String, line: Int?, value: Node)] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                throw CollectorConfigurationError(key: path, line: key.mark?.line, reason: "keys must be plain strings")
            }
            if pairs.contains(where: { $0.key == scalar.string }) {
                throw CollectorConfigurationError(key: path.isEmpty ? scalar.string : "\(path).\(scalar.string)", line: key.mark?.line, reason: "duplicate key")
            }
            pairs.append((scalar.string, key.mark?.line, value))
        }
        return ConfigSection(path: path, line: node.mark?.line, pairs: pairs)
    }

    func string(_ node: Node, path: String) throws(CollectorConfigurationError) -> String {
        guard case .scalar(let scalar) = node else {
            throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: "expected a single value")
        }
        do {
            return try EnvironmentSubstitution.substitute(scalar.string, environment: environment)
        } catch {
            throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: error.reason)
        }
    }

    func integer(_ node: Node, path: String) throws(CollectorConfigurationError) -> Int {
        let text = try string(node, path: path)
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")), value >= 0 else {
            throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: "expected a non-negative integer, got \"\(text)\"")
        }
        return value
    }

    /// Bytes: an integer, or a number with `KiB`, `MiB`, `GiB` (or `KB`, `MB`, `GB`, powers of 1000).
    func size(_ node: Node, path: String) throws(CollectorConfigurationError) -> Int {
        let text = try string(node, path: path).trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("KB", 1000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            if let value = Double(number), value >= 0, value * Double(factor) < Double(Int.max) {
                return Int(value * Double(factor))
            }
        }
        if let value = Int(text.replacingOccurrences(of: "_", with: "")), value >= 0 { return value }
        throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: "expected a size in bytes such as 20971520 or 20MiB, got \"\(text)\"")
    }

    /// Whole seconds from a duration such as `30s`, `5m`, `72h`, `7d` (a bare number is seconds).
    func seconds(_ node: Node, path: String) throws(CollectorConfigurationError) -> Int {
        let text = try string(node, path: path).trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value >= 0 {
                return Int((value * factor).rounded(.up))
            }
        }
        if let value = Int(text), value >= 0 { return value }
        throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: "expected a duration such as 30s, 5m or 72h, got \"\(text)\"")
    }

    /// A duration such as `500ms`, `30s`, `5m` (a bare number is seconds), kept to the millisecond.
    func duration(_ node: Node, path: String) throws(CollectorConfigurationError) -> Duration {
        let text = try string(node, path: path).trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value >= 0, value * factor < 1e12 {
                return .milliseconds(Int64((value * factor * 1000).rounded(.up)))
            }
        }
        if let value = Int(text), value >= 0, value < 1_000_000_000_000 { return .seconds(value) }
        throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: "expected a duration such as 500ms, 30s or 5m, got \"\(text)\"")
    }

    /// `processors.stitcher`: every key of `StitcherConfiguration`.
    func stitcher(_ node: Node, path: String) throws(CollectorConfigurationError) -> StitcherConfiguration {
        var result = StitcherConfiguration()
        let section = try section(node, path: path)
        try section.allow([
            "idle_window", "retention", "max_open_chains", "max_open_spans", "max_retained_spans", "unconsumed_window",
            "unconsumed_window_by_topic", "topics_without_consumers", "dead_letter_topic_patterns", "dead_letter_attributes",
            "duplicate_skipped_events", "correlation_attributes", "message_timestamp_attribute",
        ])
        func positive(_ key: String) throws(CollectorConfigurationError) -> Int? {
            guard let node = section[key] else { return nil }
            let value = try integer(node, path: "\(path).\(key)")
            guard value > 0 else { throw CollectorConfigurationError(key: "\(path).\(key)", line: node.mark?.line, reason: "must be positive") }
            return value
        }
        func list(_ key: String) throws(CollectorConfigurationError) -> [String]? {
            guard let node = section[key] else { return nil }
            return try names(node, path: "\(path).\(key)").map(\.name)
        }
        if let node = section["idle_window"] {
            result.idleWindow = try duration(node, path: "\(path).idle_window")
            if result.idleWindow == .zero {
                throw CollectorConfigurationError(key: "\(path).idle_window", line: node.mark?.line, reason: "must be positive")
            }
        }
        if let node = section["retention"] { result.retention = try duration(node, path: "\(path).retention") }
        if let value = try positive("max_open_chains") { result.maxOpenChains = value }
        if let value = try positive("max_open_spans") { result.maxOpenSpans = value }
        if let value = try positive("max_retained_spans") { result.maxRetainedSpans = value }
        if let node = section["unconsumed_window"] { result.unconsumedWindow = try duration(node, path: "\(path).unconsumed_window") }
        if let node = section["unconsumed_window_by_topic"] {
            let topics = try self.section(node, path: "\(path).unconsumed_window_by_topic")
            for (topic, _, value) in topics.pairs {
                result.unconsumedWindowByTopic[topic] = try duration(value, path: topics.child(topic))
            }
        }
        if let value = try list("topics_without_consumers") { result.topicsWithoutConsumers = value }
        if let value = try list("dead_letter_topic_patterns") { result.deadLetterTopicPatterns = value }
        if let value = try list("dead_letter_attributes") { result.deadLetterAttributes = value }
        if let value = try list("duplicate_skipped_events") { result.duplicateSkippedEvents = value }
        if let value = try list("correlation_attributes") { result.correlationAttributes = value }
        if let node = section["message_timestamp_attribute"] {
            result.messageTimestampAttribute = try string(node, path: "\(path).message_timestamp_attribute")
        }
        return result
    }

    /// `host:port`; `:port` means 127.0.0.1.
    func endpoint(_ node: Node, path: String) throws(CollectorConfigurationError) -> (host: String, port: Int) {
        let text = try string(node, path: path)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: "expected host:port such as 127.0.0.1:4318, got \"\(text)\"")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "127.0.0.1" : host, port)
    }

    /// A sequence of names, each with its line.
    func names(_ node: Node, path: String) throws(CollectorConfigurationError) -> [(name: String, line: Int?)] {
        if ConfigSection.isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            throw CollectorConfigurationError(key: path, line: node.mark?.line, reason: "expected a list such as [a, b]")
        }
        var result: [(name: String, line: Int?)] = []
        for element in sequence {
            result.append((try string(element, path: path), element.mark?.line))
        }
        return result
    }

    func receiver(_ node: Node, path: String, defaults: CollectorConfiguration.Receiver) throws(CollectorConfigurationError) -> CollectorConfiguration.Receiver {
        var receiver = defaults
        let section = try section(node, path: path)
        try section.allow(["endpoint", "max_request_body_size", "auth"])
        if let endpoint = section["endpoint"] {
            (receiver.host, receiver.port) = try self.endpoint(endpoint, path: "\(path).endpoint")
        }
        if let limit = section["max_request_body_size"] {
            receiver.maxRequestBodySize = try size(limit, path: "\(path).max_request_body_size")
            if receiver.maxRequestBodySize == 0 {
                throw CollectorConfigurationError(key: "\(path).max_request_body_size", line: limit.mark?.line, reason: "must be positive")
            }
        }
        if let authNode = section["auth"] {
            let auth = try self.section(authNode, path: "\(path).auth")
            try auth.allow(["bearer_token"])
            if let token = auth["bearer_token"] {
                let value = try string(token, path: "\(path).auth.bearer_token")
                receiver.bearerToken = value.isEmpty ? nil : value
            }
        }
        return receiver
    }

    /// The node with `${env:…}` substituted in every scalar, marks kept, for sections
    /// another component reads (the exporters).
    func substituted(_ node: Node, path: String) throws(CollectorConfigurationError) -> Node {
        switch node {
        case .scalar(var scalar):
            let original = scalar.string
            let value = try string(node, path: path)
            if value != original {
                let tag = scalar.tag
                scalar.string = value
                // Keep a quoted value a string after substitution; a plain one re-resolves.
                if scalar.style != .plain && scalar.style != .any { scalar.tag = tag }
            }
            return .scalar(scalar)
        case .mapping(let mapping):
            var pairs: [(Node, Node)] = []
            for (key, value) in mapping {
                pairs.append((key, try substituted(value, path: "\(path).\(key.string ?? "?")")))
            }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            var nodes: [Node] = []
            for element in sequence { nodes.append(try substituted(element, path: path)) }
            return .sequence(Node.Sequence(nodes, sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }
}
