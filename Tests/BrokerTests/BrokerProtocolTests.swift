import Broker
import Foundation
import KafkaWire
import NIOCore
import Testing

@Suite("Broker over a real socket")
struct BrokerProtocolTests {
    @Test func anApiVersionsV3OpenerGetsTheV0BodyWithUnsupportedVersion() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                var frame = ByteBuffer()
                frame.writeInteger(Int32(0))
                RequestHeader(apiKey: 18, apiVersion: 3, correlationID: 99, clientID: "rdkafka").encode(into: &frame)
                frame.writeInteger(UInt8(0))  // header tags
                frame.writeBytes([0x08, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x02, 0x31, 0x00])  // compact client software name/version, tags
                frame.setInteger(Int32(frame.readableBytes - 4), at: 0)
                try await connection.sendRaw(frame)
                var reader = KafkaReader(try #require(await connection.readFrame()))
                #expect(try reader.int32("correlation_id") == 99)
                let response = try ApiVersionsResponse(from: &reader, version: 0)
                #expect(response.errorCode == .unsupportedVersion)
                #expect(response.apiKeys.contains { $0.apiKey == 18 && $0.maxVersion == 2 })
            }
        }
    }

    @Test func producedRecordsAreFetchedBackWithAssignedOffsets() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                let first = try await connection.produce("orders", records: batch(["a", "b", "c"]).bytes)
                let second = try await connection.produce("orders", records: batch(["d"]).bytes)
                #expect(first.0 == .none && first.1 == 0)
                #expect(second.0 == .none && second.1 == 3)
                let fetched = try await connection.fetch("orders", offset: 1)
                #expect(fetched.highWatermark == 4)
                let batches = try RecordBatch.split(fetched.records)
                #expect(batches.map(\.baseOffset) == [0, 3])
                #expect(try batches[1].records().first?.value == ByteBuffer(string: "d"))
            }
        }
    }

    @Test func fetchAtTheEndReturnsEmptyRecords() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                _ = try await connection.produce("orders", records: batch(["a"]).bytes)
                let fetched = try await connection.fetch("orders", offset: 1, maxWaitMs: 10, minBytes: 1)
                #expect(fetched.errorCode == .none)
                #expect(fetched.records.readableBytes == 0)
            }
        }
    }

    @Test func aWaitingFetchIsAnsweredWhenRecordsArrive() async throws {
        try await withBroker { port in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await withConnection(port: port) { connection in
                        _ = try await connection.produce("orders", records: batch(["first"]).bytes)
                        let fetched = try await connection.fetch("orders", offset: 1, maxWaitMs: 30_000, minBytes: 1)
                        #expect(try RecordBatch.split(fetched.records).first?.baseOffset == 1)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(200))
                    try await withConnection(port: port) { connection in
                        _ = try await connection.produce("orders", records: batch(["second"]).bytes)
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func fetchReturnsAWholeBatchLargerThanMaxBytes() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                _ = try await connection.produce("orders", records: batch([String(repeating: "x", count: 2000)]).bytes)
                let fetched = try await connection.fetch("orders", offset: 0, maxBytes: 100)
                #expect(try RecordBatch.split(fetched.records).count == 1)
            }
        }
    }

    @Test func aBatchWithABadCRCIsRefusedWithCorruptMessage() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                var bytes = batch(["a"]).bytes
                bytes.setInteger(UInt8(0x55), at: bytes.writerIndex - 1)
                let result = try await connection.produce("orders", records: bytes)
                #expect(result.0 == .corruptMessage)
            }
        }
    }

    @Test func acksZeroGetsNoResponseButTheNextRequestIsAnswered() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                _ = try await connection.request(.produce, version: 8, expectResponse: false) { buffer in
                    ProduceRequest(acks: 0, timeoutMs: 1000, topics: [.init(name: "fire", partitions: [.init(index: 0, records: batch(["a"]).bytes)])])
                        .encode(into: &buffer, version: 8)
                }
                let fetched = try await connection.fetch("fire", offset: 0)
                #expect(fetched.highWatermark == 1)
            }
        }
    }

    @Test func anInvalidTopicNameIsRefused() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                let result = try await connection.produce("bad topic!", records: batch(["a"]).bytes)
                #expect(result.0 == .invalidTopic)
            }
        }
    }

    @Test func aRetriedIdempotentBatchIsAcknowledgedWithoutASecondAppend() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                let first = batch(["a", "b"], producerID: 7, baseSequence: 0)
                let result1 = try await connection.produce("idem", records: first.bytes)
                #expect(result1.0 == .none && result1.1 == 0)
                let result2 = try await connection.produce("idem", records: first.bytes)
                #expect(result2.0 == .none && result2.1 == 0)
                let result3 = try await connection.produce("idem", records: batch(["c"], producerID: 7, baseSequence: 2).bytes)
                #expect(result3.0 == .none && result3.1 == 2)
                let fetched3x = try await connection.fetch("idem", offset: 0)
                #expect(fetched3x.highWatermark == 3)
            }
        }
    }

    @Test func anOutOfOrderSequenceIsRefused() async throws {
        try await withBroker { port in
            try await withConnection(port: port) { connection in
                _ = try await connection.produce("idem", records: batch(["a"], producerID: 8, baseSequence: 0).bytes)
                let gap = try await connection.produce("idem", records: batch(["c"], producerID: 8, baseSequence: 5).bytes)
                #expect(gap.0 == .outOfOrderSequenceNumber)
            }
        }
    }

    @Test func anOversizedFrameClosesThatConnectionOnly() async throws {
        try await withBroker({ $0.maxFrameBytes = 1024 }) { port in
            try await withConnection(port: port) { connection in
                var frame = ByteBuffer()
                frame.writeInteger(Int32(1 << 20))
                frame.writeBytes([UInt8](repeating: 0, count: 16))
                try await connection.sendRaw(frame)
                #expect(try await connection.readFrame() == nil)
            }
            try await withConnection(port: port) { connection in
                let response = try await connection.request(.apiVersions, version: 2) { _ in }
                var reader = try #require(response)
                #expect(try ApiVersionsResponse(from: &reader, version: 2).errorCode == .none)
            }
        }
    }
}
