import Broker
import Foundation
import KafkaWire
import NIOCore
import Testing

private func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("causeway-broker-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite("Broker storage on disk")
struct StorageTests {
    @Test func recordsSurviveARestart() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withBroker(dataDirectory: directory) { port in
            try await withConnection(port: port) { connection in
                _ = try await connection.produce("orders", records: batch(["a", "b"]).bytes)
                _ = try await connection.produce("orders", records: batch(["c"]).bytes)
            }
        }
        try await withBroker(dataDirectory: directory) { port in
            try await withConnection(port: port) { connection in
                let fetched = try await connection.fetch("orders", offset: 0)
                #expect(fetched.highWatermark == 3)
                #expect(try RecordBatch.split(fetched.records).map(\.baseOffset) == [0, 2])
                let result1 = try await connection.produce("orders", records: batch(["d"]).bytes)
                #expect(result1.0 == .none && result1.1 == 3)
            }
        }
    }

    @Test func aTornTailIsTruncatedOnRecovery() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withBroker(dataDirectory: directory) { port in
            try await withConnection(port: port) { connection in
                _ = try await connection.produce("orders", records: batch(["a"]).bytes)
            }
        }
        let segment = directory.appendingPathComponent("logs/orders-0/00000000000000000000.log")
        let handle = try FileHandle(forWritingTo: segment)
        try handle.seekToEnd()
        let torn = batch(["half written"]).bytes
        try handle.write(contentsOf: Data(torn.readableBytesView.prefix(torn.readableBytes / 2)))
        try handle.close()
        try await withBroker(dataDirectory: directory) { port in
            try await withConnection(port: port) { connection in
                let fetched1x = try await connection.fetch("orders", offset: 0)
                #expect(fetched1x.highWatermark == 1)
                let result2 = try await connection.produce("orders", records: batch(["b"]).bytes)
                #expect(result2.0 == .none && result2.1 == 1)
            }
        }
        try await withBroker(dataDirectory: directory) { port in
            try await withConnection(port: port) { connection in
                let fetched = try await connection.fetch("orders", offset: 0)
                #expect(try RecordBatch.split(fetched.records).map(\.baseOffset) == [0, 1])
            }
        }
    }

    @Test func segmentsRollBySize() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withBroker(dataDirectory: directory, { $0.segmentBytes = 200 }) { port in
            try await withConnection(port: port) { connection in
                for index in 0..<4 {
                    _ = try await connection.produce("orders", records: batch([String(repeating: "\(index)", count: 150)]).bytes)
                }
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("logs/orders-0").path)
        #expect(files.filter { $0.hasSuffix(".log") }.count == 4)
        try await withBroker(dataDirectory: directory) { port in
            try await withConnection(port: port) { connection in
                let fetched4x = try await connection.fetch("orders", offset: 0)
                #expect(fetched4x.highWatermark == 4)
            }
        }
    }
}

@Suite("Broker configuration file")
struct ConfigurationTests {
    @Test func anUnknownKeyIsNamedWithItsLine() {
        #expect {
            try BrokerConfiguration.parse("port: 9092\nprot: 1\n")
        } throws: { error in
            (error as? BrokerConfigurationError)?.description == "broker.yaml:2: unknown key 'prot'"
        }
    }

    @Test func environmentVariablesAreSubstituted() throws {
        let configuration = try BrokerConfiguration.parse("port: ${env:KAFKA_PORT}\n", environment: ["KAFKA_PORT": "19092"])
        #expect(configuration.port == 19092)
    }

    @Test func aMissingEnvironmentVariableIsAnError() {
        #expect(throws: BrokerConfigurationError.self) { try BrokerConfiguration.parse("port: ${env:NOPE}\n", environment: [:]) }
    }

    @Test func theShippedConfigFileParses() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/broker.yaml").path
        let configuration = try BrokerConfiguration.load(path: path, environment: [:])
        #expect(configuration.port == 9092)
        #expect(configuration.defaultPartitions == 3)
    }
}

@Suite("Broker retention")
struct RetentionTests {
    @Test func retentionBySizeDeletesTheOldestSegments() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("causeway-retention-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withBroker(dataDirectory: directory, {
            $0.segmentBytes = 200
            $0.retentionBytes = 600
            $0.maintenanceIntervalMs = 20
        }) { port in
            try await withConnection(port: port) { connection in
                for index in 0..<6 {
                    _ = try await connection.produce("short", records: batch([String(repeating: "\(index)", count: 150)]).bytes)
                }
                var fetched = try await connection.fetch("short", offset: 0)
                for _ in 0..<250 where fetched.errorCode == .none {
                    try await Task.sleep(for: .milliseconds(20))
                    fetched = try await connection.fetch("short", offset: 0)
                }
                #expect(fetched.errorCode == .offsetOutOfRange)
                #expect(fetched.logStartOffset > 0)
                let newest = try await connection.fetch("short", offset: 5)
                #expect(try RecordBatch.split(newest.records).first?.baseOffset == 5)
            }
        }
    }
}
