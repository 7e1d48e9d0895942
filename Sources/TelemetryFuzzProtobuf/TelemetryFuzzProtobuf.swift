import Telemetry
import TelemetryFuzzChecks
import TelemetryFuzzDriver

/// libFuzzer's entry point: every OTLP protobuf decoder sees every input. A decode error
/// is the expected answer to garbage; a crash, a hang, a sanitizer report or a failed
/// round trip below is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func telemetryFuzzProtobuf(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let bytes = Array(input)

    if let disagreement = skimmingDisagreement(input) { fatalError(disagreement) }
    if let disagreement = skimmingDisagreement(input, skim: fuzzedSkim) { fatalError(disagreement) }
    if let request = try? ExportTraceServiceRequest(protobuf: input) {
        checkRoundTrips(request)
        checkZipkinRoundTrip(request)
        _ = JaegerUIJSON.encode(request)
    }
    if let request = try? ExportLogsServiceRequest(protobuf: input) {
        checkRoundTrips(request)
    }
    if let response = try? ExportTraceServiceResponse(protobuf: bytes) {
        checkRoundTrips(response)
    }
    if let response = try? ExportLogsServiceResponse(protobuf: bytes) {
        checkRoundTrips(response)
    }
    if let status = try? RPCStatus(protobuf: bytes) {
        checkRoundTrips(status)
    }
    return 0
}

/// Keeps some names short enough for the fuzzer to write, and the empty one.
private let fuzzedSkim = AttributeSkim(keepingAttributes: ["", "a", "key", "messaging.destination.name"], keepingEvents: ["", "e", "exception"])

#if CAUSEWAY_FUZZ
/// SwiftPM links every executable on Linux with `main` aliased to `<module>_main`
/// (`--defsym main=TelemetryFuzzProtobuf_main`), so libFuzzer's own `main` cannot be
/// used; this hands control to libFuzzer's driver instead.
@_cdecl("TelemetryFuzzProtobuf_main")
public func telemetryFuzzProtobufMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, telemetryFuzzProtobuf)
}
#else
/// Without libFuzzer: replays the files and folders given as arguments.
@main
enum ReplayCorpus {
    static func main() {
        _ = telemetry_fuzz_replay(CommandLine.argc, CommandLine.unsafeArgv, telemetryFuzzProtobuf)
    }
}
#endif
