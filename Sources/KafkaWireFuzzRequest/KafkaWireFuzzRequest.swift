import KafkaWire
import NIOCore
import TelemetryFuzzDriver

/// libFuzzer's entry point: the broker's request decoder sees every input as a frame, and
/// the record batches of a decoded Produce request are split and their records read. A
/// decode error is the expected answer to garbage; a crash, a hang or a sanitizer report
/// is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func kafkaWireFuzzRequest(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let frame = ByteBuffer(bytes: UnsafeRawBufferPointer(start: data, count: size))
    guard let (_, request) = try? KafkaRequest.decode(frame) else { return 0 }
    if case .produce(let produce) = request {
        for topic in produce.topics {
            for partition in topic.partitions {
                guard let records = partition.records else { continue }
                // Without the CRC check, so mutated batches reach the record decoder too.
                for batch in (try? RecordBatch.split(records, verifyingCRC: false)) ?? [] {
                    _ = try? batch.records()
                    var copy = batch
                    copy.assignBaseOffset(42)
                    precondition(copy.nextOffset == 42 + Int64(batch.lastOffsetDelta) + 1, "next offset rule broken")
                }
            }
        }
    }
    return 0
}

#if CAUSEWAY_FUZZ
/// SwiftPM links every executable on Linux with `main` aliased to `<module>_main`, so
/// libFuzzer's own `main` cannot be used; this hands control to libFuzzer's driver instead.
@_cdecl("KafkaWireFuzzRequest_main")
public func kafkaWireFuzzRequestMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, kafkaWireFuzzRequest)
}
#else
/// Without libFuzzer: replays the files and folders given as arguments.
@main
enum ReplayCorpus {
    static func main() {
        _ = telemetry_fuzz_replay(CommandLine.argc, CommandLine.unsafeArgv, kafkaWireFuzzRequest)
    }
}
#endif
