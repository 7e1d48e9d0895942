/// A Zipkin `Endpoint`: the network context of one side of a span.
///
/// The schema (`zipkin2-api.yaml`, `Endpoint`) wants `ipv4`/`ipv6` in their textual
/// formats and a port that is never zero, so an address is kept only when it parses as
/// an IP literal and a port only in 1...65535.
struct ZipkinEndpoint: Equatable {
    var serviceName: String?
    /// An IPv4 or IPv6 literal; `writeJSON` picks the field by its form.
    var address: String?
    var port: Int?

    var isEmpty: Bool { serviceName == nil && address == nil && port == nil }

    func writeJSON(to writer: inout JSONWriter) {
        writer.beginObject()
        if let serviceName {
            writer.key("serviceName")
            writer.string(serviceName)
        }
        if let address {
            writer.key(IPAddressText.isIPv4(address) ? "ipv4" : "ipv6")
            writer.string(address)
        }
        if let port {
            writer.key("port")
            writer.int(Int64(port))
        }
        writer.endObject()
    }
}

/// How span attributes become Zipkin endpoints, and back.
///
/// Remote endpoint, after the OpenTelemetry Zipkin mapping
/// (https://opentelemetry.io/docs/specs/otel/trace/sdk_exporters/zipkin/#remote-endpoint),
/// whose ranked list picks the peer: `peer.service`, `server.address`, `net.peer.name`,
/// `network.peer.address`+`network.peer.port`, `server.socket.domain`,
/// `server.socket.address`+`server.socket.port`, `net.sock.peer.name`,
/// `net.sock.peer.addr`+`net.sock.peer.port`, `peer.hostname`, `peer.address`, `db.name`.
/// Zipkin's endpoint has separate name, address and port fields, so each is filled from
/// the first attribute of that ranking that fits it: a name is never an IP literal and an
/// address always is. Two refinements of that list, both from the Zipkin schema's `kind`
/// description:
/// - PRODUCER and CONSUMER: "remoteEndpoint is the broker", so `messaging.system`
///   (`kafka`) names it right after `peer.service`, as Brave's messaging spans do.
/// - SERVER: "remoteEndpoint is the client". `server.*` describes the server itself there,
///   so the client comes from `peer.service`, `network.peer.*` and `client.*`, and
///   `server.address`/`server.port` go to the local endpoint instead (Zipkin: "the port
///   indicates the listen port").
///
/// Local endpoint: `serviceName` is the resource's `service.name`; address and port come
/// from `network.local.address`/`network.local.port` (or the legacy `net.host.ip`,
/// `net.sock.host.addr`, `net.host.port`, `net.sock.host.port`).
enum ZipkinEndpoints {
    private static let remoteNames = [
        "peer.service", "server.address", "net.peer.name", "server.socket.domain", "net.sock.peer.name",
        "peer.hostname", "db.name",
    ]
    private static let messagingRemoteNames = [
        "peer.service", "messaging.system", "server.address", "net.peer.name", "server.socket.domain",
        "net.sock.peer.name", "peer.hostname",
    ]
    private static let remoteAddresses = [
        "network.peer.address", "server.socket.address", "net.sock.peer.addr", "net.peer.ip", "server.address",
        "net.peer.name", "peer.address", "peer.hostname",
    ]
    private static let remotePorts = [
        "network.peer.port", "server.socket.port", "net.sock.peer.port", "server.port", "net.peer.port",
    ]
    private static let clientAddresses = [
        "network.peer.address", "client.address", "client.socket.address", "net.sock.peer.addr", "net.peer.ip",
    ]
    private static let clientPorts = [
        "network.peer.port", "client.port", "client.socket.port", "net.sock.peer.port", "net.peer.port",
    ]
    private static let localAddresses = ["network.local.address", "net.host.ip", "net.sock.host.addr"]
    private static let serverLocalAddresses = localAddresses + ["server.address"]
    private static let localPorts = ["network.local.port", "net.host.port", "net.sock.host.port"]
    private static let serverLocalPorts = localPorts + ["server.port"]

    /// The other side of the span, from its attributes; empty when nothing names it.
    static func remote(kind: SpanKind, attributes: [KeyValue]) -> ZipkinEndpoint {
        guard !attributes.isEmpty else { return ZipkinEndpoint() }
        switch kind {
        case .server:
            return ZipkinEndpoint(
                serviceName: firstName(["peer.service"], in: attributes),
                address: firstAddress(clientAddresses, in: attributes),
                port: firstPort(clientPorts, in: attributes))
        case .producer, .consumer:
            return ZipkinEndpoint(
                serviceName: firstName(messagingRemoteNames, in: attributes),
                address: firstAddress(remoteAddresses, in: attributes),
                port: firstPort(remotePorts, in: attributes))
        default:
            return ZipkinEndpoint(
                serviceName: firstName(remoteNames, in: attributes),
                address: firstAddress(remoteAddresses, in: attributes),
                port: firstPort(remotePorts, in: attributes))
        }
    }

    /// The host that recorded the span.
    static func local(serviceName: String?, kind: SpanKind, attributes: [KeyValue]) -> ZipkinEndpoint {
        guard !attributes.isEmpty else { return ZipkinEndpoint(serviceName: serviceName) }
        let isServer = kind == .server
        return ZipkinEndpoint(
            serviceName: serviceName,
            address: firstAddress(isServer ? serverLocalAddresses : localAddresses, in: attributes),
            port: firstPort(isServer ? serverLocalPorts : localPorts, in: attributes))
    }

    /// The attributes a receiver adds so that an endpoint survives the trip to OTLP: only
    /// what `remote(kind:attributes:)` would not derive again from the tags themselves, and
    /// never over an attribute already present. Zipkin → OTLP in the OpenTelemetry mapping:
    /// "set `peer.service` tag from `remoteEndpoint` unless there is a `peer.service` tag
    /// defined explicitly"; the address and port go to `network.peer.address`/`.port`.
    static func remoteAttributes(
        for endpoint: ZipkinEndpoint, kind: SpanKind, attributes: [KeyValue]
    ) -> [KeyValue] {
        let derived = remote(kind: kind, attributes: attributes)
        return missing(
            endpoint, derived: derived, attributes: attributes,
            keys: ("peer.service", "network.peer.address", "network.peer.port"))
    }

    /// Like `remoteAttributes`, for the local endpoint's address and port
    /// (`network.local.address`, `network.local.port`); its service name is the resource's.
    static func localAttributes(
        for endpoint: ZipkinEndpoint, kind: SpanKind, attributes: [KeyValue]
    ) -> [KeyValue] {
        let derived = local(serviceName: endpoint.serviceName, kind: kind, attributes: attributes)
        return missing(
            endpoint, derived: derived, attributes: attributes,
            keys: (nil, "network.local.address", "network.local.port"))
    }

    private static func missing(
        _ endpoint: ZipkinEndpoint, derived: ZipkinEndpoint, attributes: [KeyValue],
        keys: (name: String?, address: String, port: String)
    ) -> [KeyValue] {
        var added: [KeyValue] = []
        func absent(_ key: String) -> Bool { !attributes.contains { $0.key == key } }
        if let nameKey = keys.name, let name = endpoint.serviceName, name != derived.serviceName, absent(nameKey) {
            added.append(KeyValue(nameKey, .string(name)))
        }
        if let address = endpoint.address, address != derived.address, absent(keys.address) {
            added.append(KeyValue(keys.address, .string(address)))
        }
        if let port = endpoint.port, port != derived.port, absent(keys.port) {
            added.append(KeyValue(keys.port, .int(Int64(port))))
        }
        return added
    }

    private static func value(_ key: String, in attributes: [KeyValue]) -> AnyValue? {
        for attribute in attributes where attribute.key == key { return attribute.value }
        return nil
    }

    private static func firstName(_ keys: [String], in attributes: [KeyValue]) -> String? {
        for key in keys {
            if case .string(let name)? = value(key, in: attributes), !name.isEmpty, !IPAddressText.isIP(name) {
                return name
            }
        }
        return nil
    }

    private static func firstAddress(_ keys: [String], in attributes: [KeyValue]) -> String? {
        for key in keys {
            if case .string(let address)? = value(key, in: attributes), let ip = IPAddressText.zipkinForm(address) {
                return ip
            }
        }
        return nil
    }

    private static func firstPort(_ keys: [String], in attributes: [KeyValue]) -> Int? {
        for key in keys {
            switch value(key, in: attributes) {
            case .int(let port)? where (1...65535).contains(port):
                return Int(port)
            case .string(let text)?:
                if let port = Int(text), (1...65535).contains(port) { return port }
            default:
                continue
            }
        }
        return nil
    }
}

/// Recognises IP address literals in the forms the Zipkin schema's `ipv4`/`ipv6`
/// formats accept: dotted-quad IPv4 without leading zeros, and RFC 4291 §2.2 IPv6 text
/// (`::` compression, an embedded IPv4 tail) without a zone or brackets.
enum IPAddressText {
    static func isIP(_ text: String) -> Bool { isIPv4(text) || isIPv6(text) }

    /// The address as a Zipkin endpoint carries it, or `nil` if `text` is not an IP
    /// literal. The schema says "prefer using the ipv4 field for mapped addresses", so
    /// `::ffff:10.0.0.1` becomes `10.0.0.1`.
    static func zipkinForm(_ text: String) -> String? {
        if isIPv4(text) { return text }
        guard isIPv6(text) else { return nil }
        let lowered = text.lowercased()
        if lowered.hasPrefix("::ffff:") {
            let tail = String(text.dropFirst(7))
            if isIPv4(tail) { return tail }
        }
        return text
    }

    static func isIPv4(_ text: String) -> Bool {
        var octets = 0
        var digits = 0
        var value = 0
        var leadingZero = false
        for c in text.utf8 {
            if c == UInt8(ascii: ".") {
                guard digits > 0 else { return false }
                octets += 1
                digits = 0
                value = 0
                leadingZero = false
                continue
            }
            guard c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9"), !leadingZero, digits < 3 else { return false }
            if digits == 0 && c == UInt8(ascii: "0") { leadingZero = true }
            value = value * 10 + Int(c - UInt8(ascii: "0"))
            digits += 1
            guard value <= 255 else { return false }
        }
        return octets == 3 && digits > 0
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.utf8.count >= 2, text.utf8.count <= 45 else { return false }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false)
        guard halves.count <= 2 else { return false }
        var groups = 0
        for (index, half) in halves.enumerated() {
            if half.isEmpty { continue }
            let parts = half.split(separator: ":", omittingEmptySubsequences: false)
            for (partIndex, part) in parts.enumerated() {
                let isLast = index == halves.count - 1 && partIndex == parts.count - 1
                if isLast && part.contains(".") {
                    guard isIPv4(String(part)) else { return false }
                    groups += 2
                    continue
                }
                guard (1...4).contains(part.utf8.count), part.utf8.allSatisfy({ HexCoding.nibble($0) != nil }) else {
                    return false
                }
                groups += 1
            }
        }
        return halves.count == 2 ? groups <= 7 : groups == 8
    }
}
