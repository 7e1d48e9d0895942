/// The entity that produced telemetry (`opentelemetry.proto.resource.v1.Resource`).
public struct Resource: Hashable, Sendable {
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32

    public init(attributes: [KeyValue] = [], droppedAttributesCount: UInt32 = 0) {
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
    }

    /// `service.name`, when it is a string.
    public var serviceName: String? {
        if case .string(let name)? = attributes[key: "service.name"] { return name }
        return nil
    }
}

/// The library that produced telemetry (`opentelemetry.proto.common.v1.InstrumentationScope`).
public struct InstrumentationScope: Hashable, Sendable {
    public var name: String
    public var version: String
    public var attributes: [KeyValue]
    public var droppedAttributesCount: UInt32

    public init(
        name: String = "", version: String = "", attributes: [KeyValue] = [],
        droppedAttributesCount: UInt32 = 0
    ) {
        self.name = name
        self.version = version
        self.attributes = attributes
        self.droppedAttributesCount = droppedAttributesCount
    }
}
