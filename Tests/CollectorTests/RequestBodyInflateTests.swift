@testable import Collector
import CompressNIO
import NIOCore
import Testing

/// gzip bodies of one member are inflated in one pass from the size their trailer gives;
/// every other body falls through to the streaming inflate, which reads and names it.
@Suite struct RequestBodyInflateTests {
    let reader = RequestBodyReader(limit: 1 << 20)
    let payload = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 7) }

    func onePass(_ body: [UInt8]) -> [UInt8]? {
        reader.inflateSingleMember(ByteBuffer(bytes: body)).map { Array($0.readableBytesView) }
    }

    func streamed(_ body: [UInt8]) throws -> (bytes: [UInt8], members: Int) {
        let (bytes, members) = try reader.inflate(ByteBuffer(bytes: body), algorithm: .gzip(), isGzip: true)
        return (Array(bytes.readableBytesView), members)
    }

    /// `body` with its last four bytes (ISIZE) replaced.
    func claiming(_ size: UInt32, _ body: [UInt8]) -> [UInt8] {
        Array(body.dropLast(4)) + (0..<4).map { UInt8(truncatingIfNeeded: size >> (8 * $0)) }
    }

    @Test func oneMemberInflatesInOnePassToWhatStreamingGives() throws {
        let body = try gzip(payload)
        #expect(onePass(body) == payload)
        #expect(try streamed(body).bytes == payload)
    }

    @Test func aBodyOfAnotherShapeIsLeftToStreaming() throws {
        let member = try gzip(payload)
        // Two members, zeros after the member, other bytes after it, an empty member.
        #expect(onePass(member + member) == nil)
        #expect(try streamed(member + member) == (payload + payload, 2))
        #expect(onePass(member + [0, 0, 0]) == nil)
        #expect(try streamed(member + [0, 0, 0]).bytes == payload)
        #expect(onePass(member + [1, 2, 3]) == nil)
        #expect(throws: RequestBodyFault.corrupt("3 bytes after the end of the gzip stream")) { try streamed(member + [1, 2, 3]) }
        #expect(onePass(try gzip([])) == nil)
        #expect(try streamed(try gzip([])).bytes.isEmpty)
    }

    @Test func aTrailerThatLiesOrADamagedMemberIsNamedByStreaming() throws {
        let member = try gzip(payload)
        // A size below the real one: one pass stops at it.
        #expect(onePass(claiming(1000, member)) == nil)
        #expect(throws: RequestBodyFault.self) { try streamed(claiming(1000, member)) }
        // A size above the real one.
        #expect(onePass(claiming(UInt32(payload.count + 1), member)) == nil)
        // A checksum that does not match.
        var damaged = member
        damaged[damaged.count - 8] ^= 0xFF
        #expect(onePass(damaged) == nil)
        #expect(throws: RequestBodyFault.self) { try streamed(damaged) }
        // Too short to hold a header and a trailer.
        #expect(onePass(Array(member.prefix(17))) == nil)
    }

    @Test func aBombIsNeverInflatedPastTheLimitAndIsRefusedAsTooLarge() throws {
        let bomb = try gzip([UInt8](repeating: 0, count: 8 << 20))
        // Its true size is over the limit: one pass does not start.
        #expect(onePass(bomb) == nil)
        // Claiming a size within the limit: one pass stops there, streaming at the limit.
        #expect(onePass(claiming(4096, bomb)) == nil)
        #expect(throws: RequestBodyFault.tooLarge(limit: 1 << 20)) { try streamed(claiming(4096, bomb)) }
        #expect(throws: RequestBodyFault.tooLarge(limit: 1 << 20)) { try streamed(bomb) }
    }
}
