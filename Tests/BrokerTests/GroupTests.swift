import Broker
import Foundation
import KafkaWire
import NIOCore
import Testing

private struct Joined {
    var error: Int16
    var generation: Int32
    var leader: String
    var memberID: String
    var memberCount: Int
}

extension KafkaTestConnection {
    fileprivate mutating func join(_ group: String, memberID: String = "", sessionTimeoutMs: Int32 = 10_000) async throws -> Joined {
        var reader = try #require(try await request(.joinGroup, version: 5) { buffer in
            buffer.writeKafkaString(group)
            buffer.writeInteger(sessionTimeoutMs)
            buffer.writeInteger(Int32(5_000))
            buffer.writeKafkaString(memberID)
            buffer.writeKafkaNullableString(nil)
            buffer.writeKafkaString("consumer")
            buffer.writeInteger(Int32(1))
            buffer.writeKafkaString("range")
            buffer.writeKafkaBytes(ByteBuffer(bytes: [0, 1, 0, 0, 0, 0, 255, 255, 255, 255]))
        })
        _ = try reader.int32("throttle")
        let error = try reader.int16("error")
        let generation = try reader.int32("generation")
        _ = try reader.string("protocol")
        let leader = try reader.string("leader")
        let member = try reader.string("member")
        let members = try reader.array("members") { (r: inout KafkaReader) throws(KafkaWireError) in
            _ = try r.string("id")
            _ = try r.nullableString("instance")
            _ = try r.bytes("metadata")
        }
        return Joined(error: error, generation: generation, leader: leader, memberID: member, memberCount: members.count)
    }

    fileprivate mutating func sync(_ group: String, generation: Int32, memberID: String, assignments: [(String, ByteBuffer)]) async throws -> (Int16, ByteBuffer) {
        var reader = try #require(try await request(.syncGroup, version: 3) { buffer in
            buffer.writeKafkaString(group)
            buffer.writeInteger(generation)
            buffer.writeKafkaString(memberID)
            buffer.writeKafkaNullableString(nil)
            buffer.writeKafkaArray(assignments) { buffer, entry in
                buffer.writeKafkaString(entry.0)
                buffer.writeKafkaBytes(entry.1)
            }
        })
        _ = try reader.int32("throttle")
        return (try reader.int16("error"), try reader.bytes("assignment"))
    }

    fileprivate mutating func heartbeat(_ group: String, generation: Int32, memberID: String) async throws -> Int16 {
        var reader = try #require(try await request(.heartbeat, version: 3) { buffer in
            buffer.writeKafkaString(group)
            buffer.writeInteger(generation)
            buffer.writeKafkaString(memberID)
            buffer.writeKafkaNullableString(nil)
        })
        _ = try reader.int32("throttle")
        return try reader.int16("error")
    }

    fileprivate mutating func commit(_ group: String, topic: String, offset: Int64, generation: Int32 = -1, memberID: String = "") async throws -> Int16 {
        var reader = try #require(try await request(.offsetCommit, version: 7) { buffer in
            buffer.writeKafkaString(group)
            buffer.writeInteger(generation)
            buffer.writeKafkaString(memberID)
            buffer.writeKafkaNullableString(nil)
            buffer.writeInteger(Int32(1))
            buffer.writeKafkaString(topic)
            buffer.writeInteger(Int32(1))
            buffer.writeInteger(Int32(0))
            buffer.writeInteger(offset)
            buffer.writeInteger(Int32(-1))
            buffer.writeKafkaNullableString(nil)
        })
        _ = try reader.int32("throttle")
        _ = try reader.int32("topics")
        _ = try reader.string("name")
        _ = try reader.int32("partitions")
        _ = try reader.int32("index")
        return try reader.int16("error")
    }

    fileprivate mutating func committed(_ group: String, topic: String) async throws -> Int64 {
        var reader = try #require(try await request(.offsetFetch, version: 5) { buffer in
            buffer.writeKafkaString(group)
            buffer.writeInteger(Int32(1))
            buffer.writeKafkaString(topic)
            buffer.writeKafkaInt32Array([0])
        })
        _ = try reader.int32("throttle")
        _ = try reader.int32("topics")
        _ = try reader.string("name")
        _ = try reader.int32("partitions")
        _ = try reader.int32("index")
        return try reader.int64("offset")
    }
}

@Suite("Classic consumer groups")
struct GroupTests {
    @Test func aSecondMemberIsHeldUntilTheFirstRejoinsAfterRebalanceInProgress() async throws {
        try await withBroker { port in
            let first = try await withConnection(port: port) { connection in try await connection.join("g") }
            #expect(first.error == 0 && first.generation == 1 && first.leader == first.memberID)
            try await withThrowingTaskGroup(of: Joined.self) { tasks in
                tasks.addTask {
                    try await withConnection(port: port) { connection in try await connection.join("g") }
                }
                try await withConnection(port: port) { connection in
                    var answer: Int16 = 0
                    while answer != ErrorCode.rebalanceInProgress.rawValue {
                        try await Task.sleep(for: .milliseconds(20))
                        answer = try await connection.heartbeat("g", generation: 1, memberID: first.memberID)
                    }
                    let rejoined = try await connection.join("g", memberID: first.memberID)
                    #expect(rejoined.generation == 2)
                    #expect(rejoined.leader == first.memberID)
                    #expect(rejoined.memberCount == 2)
                }
                let second = try #require(try await tasks.next())
                #expect(second.error == 0 && second.generation == 2 && second.memberCount == 0)
            }
        }
    }

    @Test func aMemberLeftWithoutPartitionsGetsAnEmptyConsumerAssignment() async throws {
        try await withBroker { port in
            let leader = try await withConnection(port: port) { connection in try await connection.join("h") }
            try await withThrowingTaskGroup(of: (Int16, ByteBuffer).self) { tasks in
                tasks.addTask {
                    try await withConnection(port: port) { connection in
                        let joined = try await connection.join("h")
                        return try await connection.sync("h", generation: joined.generation, memberID: joined.memberID, assignments: [])
                    }
                }
                try await withConnection(port: port) { connection in
                    while try await connection.heartbeat("h", generation: 1, memberID: leader.memberID) != ErrorCode.rebalanceInProgress.rawValue {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let rejoined = try await connection.join("h", memberID: leader.memberID)
                    let mine = ByteBuffer(bytes: [0, 0, 0, 0, 0, 1, 0, 1, 97, 0, 0, 0, 1, 0, 0, 0, 0, 255, 255, 255, 255])
                    let synced = try await connection.sync("h", generation: rejoined.generation, memberID: leader.memberID, assignments: [(leader.memberID, mine)])
                    #expect(synced.0 == 0 && synced.1 == mine)
                }
                let follower = try #require(try await tasks.next())
                #expect(follower.0 == 0)
                #expect(follower.1 == SyncGroupResponse.emptyConsumerAssignment)
            }
        }
    }

    @Test func aMemberCommitsWhileTheGroupPreparesARebalance() async throws {
        try await withBroker { port in
            let leader = try await withConnection(port: port) { connection in
                let joined = try await connection.join("c")
                _ = try await connection.sync("c", generation: joined.generation, memberID: joined.memberID, assignments: [])
                return joined
            }
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                // A second member's join starts a rebalance and waits for the leader.
                tasks.addTask { try await withConnection(port: port) { connection in _ = try await connection.join("c") } }
                try await withConnection(port: port) { connection in
                    while try await connection.heartbeat("c", generation: leader.generation, memberID: leader.memberID) != ErrorCode.rebalanceInProgress.rawValue {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    // As Kafka: what the member handled before rejoining is committed.
                    #expect(try await connection.commit("c", topic: "orders", offset: 5, generation: leader.generation, memberID: leader.memberID) == 0)
                    #expect(try await connection.commit("c", topic: "orders", offset: 6, generation: leader.generation + 1, memberID: leader.memberID)
                        == ErrorCode.illegalGeneration.rawValue)
                    _ = try await connection.join("c", memberID: leader.memberID)
                    #expect(try await connection.committed("c", topic: "orders") == 5)
                }
                try await tasks.waitForAll()
            }
        }
    }

    @Test func aSilentMemberIsRemovedWhenItsSessionExpires() async throws {
        try await withBroker({ $0.maintenanceIntervalMs = 20 }) { port in
            try await withConnection(port: port) { connection in
                let joined = try await connection.join("quiet", sessionTimeoutMs: 1000)
                _ = try await connection.sync("quiet", generation: joined.generation, memberID: joined.memberID, assignments: [])
                try await Task.sleep(for: .milliseconds(1500))
                let answer1 = try await connection.heartbeat("quiet", generation: joined.generation, memberID: joined.memberID)
                #expect(answer1 == ErrorCode.unknownMemberID.rawValue)
            }
        }
    }

    @Test func committedOffsetsSurviveARestart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("causeway-groups-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withBroker(dataDirectory: directory) { port in
            try await withConnection(port: port) { connection in
                let answer2 = try await connection.commit("keep", topic: "orders", offset: 17)
                #expect(answer2 == 0)
            }
        }
        try await withBroker(dataDirectory: directory) { port in
            try await withConnection(port: port) { connection in
                let answer3 = try await connection.committed("keep", topic: "orders")
                #expect(answer3 == 17)
                let answer4 = try await connection.committed("other", topic: "orders")
                #expect(answer4 == -1)
            }
        }
    }
}
