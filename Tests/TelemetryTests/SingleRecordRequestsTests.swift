import Testing
import Telemetry

/// The one-record split the store keeps must be byte for byte the encoding of a request
/// built with that record alone, so that what is read back is what was received.
@Suite struct SingleRecordRequestsTests {
    @Test func eachSpanRequestEqualsTheEncodingOfItsOneSpanRequest() throws {
        var request = Fixtures.fullTraceRequest()
        // A second group without resource or scope, to cover the absent fields too.
        request.resourceSpans.append(ResourceSpans(resource: nil, scopeSpans: [ScopeSpans(scope: nil, spans: request.resourceSpans[0].scopeSpans[0].spans, schemaURL: "")], schemaURL: ""))
        var expected: [[UInt8]] = []
        for resourceSpans in request.resourceSpans {
            for scopeSpans in resourceSpans.scopeSpans {
                for span in scopeSpans.spans {
                    expected.append(ExportTraceServiceRequest(resourceSpans: [
                        ResourceSpans(resource: resourceSpans.resource, scopeSpans: [ScopeSpans(scope: scopeSpans.scope, spans: [span], schemaURL: scopeSpans.schemaURL)], schemaURL: resourceSpans.schemaURL)
                    ]).protobufBytes())
                }
            }
        }
        var split: [[UInt8]] = []
        request.forEachSpanRequest { _, _, bytes in split.append(Array(bytes)) }
        #expect(split.count == request.spanCount)
        #expect(split == expected)
    }

    @Test func eachLogRecordRequestEqualsTheEncodingOfItsOneRecordRequest() throws {
        var request = Fixtures.fullLogsRequest()
        request.resourceLogs.append(ResourceLogs(resource: nil, scopeLogs: [ScopeLogs(scope: nil, logRecords: request.resourceLogs[0].scopeLogs[0].logRecords, schemaURL: "")], schemaURL: ""))
        var expected: [[UInt8]] = []
        for resourceLogs in request.resourceLogs {
            for scopeLogs in resourceLogs.scopeLogs {
                for record in scopeLogs.logRecords {
                    expected.append(ExportLogsServiceRequest(resourceLogs: [
                        ResourceLogs(resource: resourceLogs.resource, scopeLogs: [ScopeLogs(scope: scopeLogs.scope, logRecords: [record], schemaURL: scopeLogs.schemaURL)], schemaURL: resourceLogs.schemaURL)
                    ]).protobufBytes())
                }
            }
        }
        var split: [[UInt8]] = []
        request.forEachLogRecordRequest { _, _, bytes in split.append(Array(bytes)) }
        #expect(split.count == request.logRecordCount)
        #expect(split == expected)
    }
}
