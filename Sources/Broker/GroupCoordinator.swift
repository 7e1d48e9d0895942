import Foundation
import KafkaWire
import Logging
import NIOCore

/// The classic group protocol (KIP-62 timeouts, the JoinGroup/SyncGroup dance of the Kafka
/// consumer) and the groups' committed offsets.
package actor GroupCoordinator {
    enum State: String {
        case empty, preparingRebalance, completingRebalance, stable
    }

    struct Member {
        var id: String
        var sessionTimeout: Duration
        var rebalanceTimeout: Duration
        var protocols: [(name: String, metadata: ByteBuffer)]
        var lastSeen: ContinuousClock.Instant
        var joinWaiter: CheckedContinuation<JoinGroupResponse, Never>?
        var syncWaiter: CheckedContinuation<SyncGroupResponse, Never>?
    }

    struct Group {
        var state = State.empty
        var generation: Int32 = 0
        var protocolType = ""
        var protocolName = ""
        var leader = ""
        var members: [String: Member] = [:]
        /// Join order, so the first member to join leads the first generation.
        var order: [String] = []
        var assignments: [String: ByteBuffer] = [:]
    }

    private var groups: [String: Group] = [:]
    private var offsets: [String: [TopicPartition: (offset: Int64, metadata: String?)]] = [:]
    private let storage: OffsetFile?
    private let logger: Logger

    init(dataDirectory: URL?, logger: Logger) throws {
        storage = try dataDirectory.map { try OffsetFile(dataDirectory: $0) }
        self.logger = logger
        if let storage { offsets = try storage.load() }
    }

    // MARK: JoinGroup

    func join(_ request: JoinGroupRequest, clientID: String?) async -> JoinGroupResponse {
        guard !request.groupID.isEmpty else { return JoinGroupResponse(errorCode: .invalidGroupID, memberID: request.memberID) }
        guard request.sessionTimeoutMs >= 1000, request.sessionTimeoutMs <= 1_800_000 else {
            logger.info("join refused", metadata: ["group": "\(request.groupID)", "reason": "session timeout \(request.sessionTimeoutMs) ms outside 1000…1800000"])
            return JoinGroupResponse(errorCode: .invalidSessionTimeout, memberID: request.memberID)
        }
        var group = groups[request.groupID] ?? Group()
        if group.state != .empty, !group.members.isEmpty, group.protocolType != request.protocolType {
            return JoinGroupResponse(errorCode: .inconsistentGroupProtocol, memberID: request.memberID)
        }
        var memberID = request.memberID
        if memberID.isEmpty {
            memberID = "\(clientID ?? "member")-\(UUID().uuidString.lowercased())"
        } else if group.members[memberID] == nil {
            return JoinGroupResponse(errorCode: .unknownMemberID, memberID: memberID)
        }
        group.protocolType = request.protocolType
        let member = Member(
            id: memberID,
            sessionTimeout: .milliseconds(Int64(request.sessionTimeoutMs)),
            rebalanceTimeout: .milliseconds(Int64(request.rebalanceTimeoutMs)),
            protocols: request.protocols.map { (name: $0.name, metadata: $0.metadata) },
            lastSeen: .now,
            joinWaiter: group.members[memberID]?.joinWaiter,
            syncWaiter: nil
        )
        if group.members[memberID] == nil { group.order.append(memberID) }
        if let old = group.members[memberID]?.syncWaiter {
            old.resume(returning: SyncGroupResponse(errorCode: .rebalanceInProgress, assignment: ByteBuffer()))
        }
        group.members[memberID] = member
        groups[request.groupID] = group
        let groupID = request.groupID
        if group.state != .preparingRebalance { beginRebalance(groupID, reason: "member \(memberID) joined") }
        return await withCheckedContinuation { continuation in
            groups[groupID]?.members[memberID]?.joinWaiter?.resume(returning: JoinGroupResponse(errorCode: .unknownMemberID, memberID: memberID))
            groups[groupID]?.members[memberID]?.joinWaiter = continuation
            completeJoinIfReady(groupID, force: false)
        }
    }

    private func beginRebalance(_ groupID: String, reason: String) {
        guard var group = groups[groupID] else { return }
        group.state = .preparingRebalance
        for id in group.members.keys {
            group.members[id]?.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .rebalanceInProgress, assignment: ByteBuffer()))
            group.members[id]?.syncWaiter = nil
        }
        group.assignments = [:]
        groups[groupID] = group
        logger.info("rebalance started", metadata: ["group": "\(groupID)", "reason": "\(reason)", "generation": "\(group.generation)"])
        let timeout = group.members.values.map(\.rebalanceTimeout).max() ?? .seconds(1)
        let generation = group.generation
        Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.rebalanceTimedOut(groupID, generation: generation)
        }
    }

    private func rebalanceTimedOut(_ groupID: String, generation: Int32) {
        guard let group = groups[groupID], group.state == .preparingRebalance, group.generation == generation else { return }
        completeJoinIfReady(groupID, force: true)
    }

    /// Ends the join phase once every known member has rejoined, or (forced, when the
    /// rebalance timeout passes) with those that did, dropping the rest.
    private func completeJoinIfReady(_ groupID: String, force: Bool) {
        guard var group = groups[groupID], group.state == .preparingRebalance else { return }
        let waiting = group.members.values.filter { $0.joinWaiter != nil }
        guard force || waiting.count == group.members.count else { return }
        for id in group.members.keys where group.members[id]?.joinWaiter == nil {
            logger.info("member removed: did not rejoin within the rebalance timeout", metadata: ["group": "\(groupID)", "member": "\(id)"])
            group.members[id] = nil
        }
        group.order.removeAll { group.members[$0] == nil }
        group.generation += 1
        guard !group.members.isEmpty else {
            group.state = .empty
            groups[groupID] = group
            return
        }
        // The first protocol of the first member that every member supports.
        let first = group.members[group.order[0]]!
        let chosen = first.protocols.map(\.name).first { name in
            group.members.values.allSatisfy { $0.protocols.contains { $0.name == name } }
        }
        guard let chosen else {
            for member in group.members.values {
                member.joinWaiter?.resume(returning: JoinGroupResponse(errorCode: .inconsistentGroupProtocol, memberID: member.id))
            }
            group.members = [:]
            group.order = []
            group.state = .empty
            groups[groupID] = group
            return
        }
        group.protocolName = chosen
        if group.members[group.leader] == nil { group.leader = group.order[0] }
        group.state = .completingRebalance
        let everyone = group.order.map { id in
            JoinGroupResponse.Member(memberID: id, metadata: group.members[id]!.protocols.first { $0.name == chosen }!.metadata)
        }
        for id in group.order {
            let response = JoinGroupResponse(
                errorCode: .none, generationID: group.generation, protocolName: chosen, leader: group.leader,
                memberID: id, members: id == group.leader ? everyone : []
            )
            group.members[id]?.joinWaiter?.resume(returning: response)
            group.members[id]?.joinWaiter = nil
            group.members[id]?.lastSeen = .now
        }
        groups[groupID] = group
        logger.info("group generation formed", metadata: [
            "group": "\(groupID)", "generation": "\(group.generation)", "members": "\(group.order.count)", "leader": "\(group.leader)",
        ])
    }

    // MARK: SyncGroup

    func sync(_ request: SyncGroupRequest) async -> SyncGroupResponse {
        guard var group = groups[request.groupID], var member = group.members[request.memberID] else {
            return SyncGroupResponse(errorCode: .unknownMemberID, assignment: ByteBuffer())
        }
        guard request.generationID == group.generation else {
            return SyncGroupResponse(errorCode: .illegalGeneration, assignment: ByteBuffer())
        }
        member.lastSeen = .now
        group.members[request.memberID] = member
        switch group.state {
        case .empty, .preparingRebalance:
            groups[request.groupID] = group
            return SyncGroupResponse(errorCode: .rebalanceInProgress, assignment: ByteBuffer())
        case .stable:
            groups[request.groupID] = group
            return SyncGroupResponse(errorCode: .none, assignment: assignment(for: request.memberID, in: group))
        case .completingRebalance:
            if request.memberID == group.leader {
                for (id, bytes) in request.assignments where group.members[id] != nil {
                    group.assignments[id] = bytes
                }
                group.state = .stable
                for id in group.members.keys {
                    group.members[id]?.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .none, assignment: assignment(for: id, in: group)))
                    group.members[id]?.syncWaiter = nil
                }
                groups[request.groupID] = group
                logger.info("group stable", metadata: ["group": "\(request.groupID)", "generation": "\(group.generation)"])
                return SyncGroupResponse(errorCode: .none, assignment: assignment(for: request.memberID, in: group))
            }
            groups[request.groupID] = group
            let groupID = request.groupID
            return await withCheckedContinuation { continuation in
                groups[groupID]?.members[request.memberID]?.syncWaiter = continuation
            }
        }
    }

    /// A member the leader left out gets an empty ConsumerProtocolAssignment, never empty
    /// bytes, which consumer clients fail to decode.
    private func assignment(for memberID: String, in group: Group) -> ByteBuffer {
        if let bytes = group.assignments[memberID], bytes.readableBytes > 0 { return bytes }
        return group.protocolType == "consumer" ? SyncGroupResponse.emptyConsumerAssignment : ByteBuffer()
    }

    // MARK: Heartbeat, LeaveGroup, expiry

    func heartbeat(_ request: HeartbeatRequest) -> ErrorCode {
        guard var group = groups[request.groupID], group.members[request.memberID] != nil else { return .unknownMemberID }
        group.members[request.memberID]?.lastSeen = .now
        groups[request.groupID] = group
        if group.state == .preparingRebalance { return .rebalanceInProgress }
        if request.generationID != group.generation { return .illegalGeneration }
        return .none
    }

    func leave(_ request: LeaveGroupRequest) -> [(memberID: String, errorCode: ErrorCode)] {
        var results: [(memberID: String, errorCode: ErrorCode)] = []
        for id in request.memberIDs {
            if groups[request.groupID]?.members[id] == nil {
                results.append((id, .unknownMemberID))
                continue
            }
            remove(member: id, from: request.groupID, reason: "member \(id) left")
            results.append((id, .none))
        }
        return results
    }

    private func remove(member id: String, from groupID: String, reason: String) {
        guard var group = groups[groupID], let member = group.members.removeValue(forKey: id) else { return }
        member.joinWaiter?.resume(returning: JoinGroupResponse(errorCode: .unknownMemberID, memberID: id))
        member.syncWaiter?.resume(returning: SyncGroupResponse(errorCode: .unknownMemberID, assignment: ByteBuffer()))
        group.order.removeAll { $0 == id }
        groups[groupID] = group
        logger.info("member removed", metadata: ["group": "\(groupID)", "member": "\(id)", "reason": "\(reason)"])
        if group.members.isEmpty {
            groups[groupID]?.state = .empty
            groups[groupID]?.generation += 1
        } else if group.state == .preparingRebalance {
            completeJoinIfReady(groupID, force: false)
        } else {
            beginRebalance(groupID, reason: reason)
        }
    }

    /// Removes members whose session timed out without a heartbeat (members waiting in a
    /// join are exempt: their wait is bounded by the rebalance timeout).
    func expireSessions(now: ContinuousClock.Instant = .now) {
        for (groupID, group) in groups {
            for member in group.members.values where member.joinWaiter == nil && member.lastSeen + member.sessionTimeout < now {
                remove(member: member.id, from: groupID, reason: "session timeout of \(member.sessionTimeout) expired")
            }
        }
    }

    // MARK: Offsets

    func commit(_ request: OffsetCommitRequest) -> OffsetCommitResponse {
        var error = ErrorCode.none
        // Generation -1 is a standalone consumer committing outside any group generation.
        if request.generationID >= 0 {
            if let group = groups[request.groupID], group.members[request.memberID] != nil {
                if group.generation != request.generationID {
                    error = .illegalGeneration
                } else if group.state == .completingRebalance {
                    // As Kafka: a member of the current generation may commit while the
                    // group prepares a rebalance (it hears of the rebalance from its
                    // heartbeat, and commits what it handled before rejoining), but not
                    // between JoinGroup and SyncGroup.
                    error = .rebalanceInProgress
                }
            } else {
                error = .unknownMemberID
            }
        }
        if error == .none {
            var stored = offsets[request.groupID] ?? [:]
            for topic in request.topics {
                for partition in topic.partitions {
                    stored[TopicPartition(topic: topic.name, partition: partition.index)] = (partition.offset, partition.metadata)
                }
            }
            offsets[request.groupID] = stored
            do {
                try storage?.save(offsets)
            } catch {
                logger.error("committed offsets not persisted", metadata: ["group": "\(request.groupID)", "error": "\(error)"])
            }
        } else {
            logger.info("offset commit refused", metadata: ["group": "\(request.groupID)", "member": "\(request.memberID)", "error": "\(error.rawValue)"])
        }
        return OffsetCommitResponse(topics: request.topics.map { topic in
            (name: topic.name, partitions: topic.partitions.map { (index: $0.index, errorCode: error) })
        })
    }

    func fetchOffsets(_ request: OffsetFetchRequest) -> OffsetFetchResponse {
        let stored = offsets[request.groupID] ?? [:]
        let wanted: [(name: String, partitions: [Int32])]
        if let topics = request.topics {
            wanted = topics
        } else {
            let byTopic = Dictionary(grouping: stored.keys, by: \.topic)
            wanted = byTopic.keys.sorted().map { (name: $0, partitions: byTopic[$0]!.map(\.partition).sorted()) }
        }
        return OffsetFetchResponse(
            topics: wanted.map { topic in
                (name: topic.name, partitions: topic.partitions.map { index in
                    let entry = stored[TopicPartition(topic: topic.name, partition: index)]
                    return OffsetFetchResponse.Partition(index: index, offset: entry?.offset ?? -1, metadata: entry?.metadata ?? "", errorCode: .none)
                })
            },
            errorCode: .none
        )
    }

    /// Every group's committed offsets, for the lag metric.
    func committedOffsets() -> [String: [TopicPartition: Int64]] {
        offsets.mapValues { $0.mapValues(\.offset) }
    }
}
