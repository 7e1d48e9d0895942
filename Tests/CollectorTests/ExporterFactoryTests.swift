import Logging
import Testing
import Yams

@testable import Collector

@Test func unknownExporterErrorNamesTheExporter() throws {
    let node = try Yams.compose(yaml: "endpoint: http://localhost:4318\n")
    #expect {
        _ = try ExporterFactory.make(name: "nosuch", configuration: node, dataDirectory: "/tmp", logger: Logger(label: "test"))
    } throws: { error in
        String(describing: error).contains("exporters.nosuch")
    }
}
