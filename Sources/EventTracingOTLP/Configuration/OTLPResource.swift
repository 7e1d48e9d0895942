import Foundation
public import Telemetry

/// The resource every exported span and log record carries: who sent it (OTel resource
/// semantic conventions, "Service", "Host", "Process" and "Telemetry SDK").
public enum OTLPResource {
    /// This SDK's version, sent as `telemetry.sdk.version`.
    public static let sdkVersion = "0.1.0"

    /// The resource of this process: `service.name`, `service.version` when known,
    /// `host.name`, `process.pid`, `process.executable.name` and the `telemetry.sdk.*`
    /// attributes, then `extra` (from `OTEL_RESOURCE_ATTRIBUTES`) for keys not set yet.
    public static func detect(serviceName: String, serviceVersion: String?, extra: [KeyValue] = []) -> Resource {
        let process = ProcessInfo.processInfo
        var attributes: [KeyValue] = [KeyValue("service.name", .string(serviceName))]
        if let serviceVersion { attributes.append(KeyValue("service.version", .string(serviceVersion))) }
        attributes.append(KeyValue("host.name", .string(process.hostName)))
        attributes.append(KeyValue("process.pid", .int(Int64(process.processIdentifier))))
        attributes.append(KeyValue("process.executable.name", .string(process.processName)))
        attributes.append(KeyValue("telemetry.sdk.name", "causeway"))
        attributes.append(KeyValue("telemetry.sdk.language", "swift"))
        attributes.append(KeyValue("telemetry.sdk.version", .string(sdkVersion)))
        for attribute in extra where attributes[key: attribute.key] == nil {
            attributes.append(attribute)
        }
        return Resource(attributes: attributes)
    }

    /// "unknown_service:" followed by the executable name, the spec's fallback for
    /// `service.name` ("Service" semantic conventions).
    static var defaultServiceName: String { "unknown_service:" + ProcessInfo.processInfo.processName }
}
