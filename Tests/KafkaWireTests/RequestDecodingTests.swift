import Foundation
import KafkaWire
import NIOCore
import Testing

private let corpus = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().appendingPathComponent("../Fuzz/corpus/KafkaWireFuzzRequest")

private func seed(_ name: String) throws -> ByteBuffer {
    ByteBuffer(bytes: try Data(contentsOf: corpus.appendingPathComponent(name)))
}

@Test(arguments: [
    "api_versions_v2", "api_versions_v3", "metadata_v8", "metadata_v0_all", "produce_v8", "fetch_v11", "list_offsets_v5",
    "find_coordinator_v2", "join_group_v5", "sync_group_v3", "heartbeat_v3", "leave_group_v3", "offset_commit_v7",
    "offset_fetch_v5", "create_topics_v4", "init_producer_id_v1",
])
func everyFuzzSeedIsAValidRequest(name: String) throws {
    _ = try KafkaRequest.decode(try seed(name))
}

@Test func theProduceSeedCarriesABatchWithAValidCRC() throws {
    guard case .produce(let request) = try KafkaRequest.decode(try seed("produce_v8")).request else {
        Issue.record("not a produce request")
        return
    }
    let batches = try RecordBatch.split(try #require(request.topics.first?.partitions.first?.records))
    #expect(try batches.first?.records().first?.headers.first?.key == "traceparent")
}

@Test func anUnsupportedVersionOfAnotherAPIIsRefused() {
    var frame = ByteBuffer()
    RequestHeader(apiKey: APIKey.fetch.rawValue, apiVersion: 12, correlationID: 1, clientID: nil).encode(into: &frame)
    #expect(throws: KafkaWireError.unsupportedVersion(apiKey: 1, version: 12)) { try KafkaRequest.decode(frame) }
}

@Test func anUnknownAPIKeyIsRefused() {
    var frame = ByteBuffer()
    RequestHeader(apiKey: 999, apiVersion: 0, correlationID: 1, clientID: nil).encode(into: &frame)
    #expect(throws: KafkaWireError.unknownAPIKey(999)) { try KafkaRequest.decode(frame) }
}
