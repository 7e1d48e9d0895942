import Telemetry
import TelemetryFuzzChecks
import TelemetryFuzzDriver

/// libFuzzer's entry point: every JSON decoder (OTLP JSON for each message, Zipkin v2)
/// sees every input. A decode error is the expected answer to garbage; a crash, a hang, a
/// sanitizer report or a failed round trip below is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func telemetryFuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let bytes = Array(input)

    if let request = try? ExportTraceServiceRequest(otlpJSON: input) {
        checkRoundTrips(request)
        checkZipkinRoundTrip(request)
        _ = JaegerUIJSON.encode(request)
    }
    if let request = try? ExportLogsServiceRequest(otlpJSON: input) {
        checkRoundTrips(request)
    }
    if let response = try? ExportTraceServiceResponse(otlpJSON: input) {
        checkRoundTrips(response)
    }
    if let response = try? ExportLogsServiceResponse(otlpJSON: input) {
        checkRoundTrips(response)
    }
    if let status = try? RPCStatus(otlpJSON: input) {
        checkRoundTrips(status)
    }
    if let request = try? ZipkinV2JSON.decode(bytes) {
        checkRoundTrips(request)
        checkZipkinRoundTrip(request)
        _ = JaegerUIJSON.encode(request)
    }
    return 0
}

#if CAUSEWAY_FUZZ
/// SwiftPM links every executable on Linux with `main` aliased to `<module>_main`
/// (`--defsym main=TelemetryFuzzJSON_main`), so libFuzzer's own `main` cannot be used;
/// this hands control to libFuzzer's driver instead.
@_cdecl("TelemetryFuzzJSON_main")
public func telemetryFuzzJSONMain(
    _ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv, telemetryFuzzJSON)
}
#else
/// Without libFuzzer: replays the files and folders given as arguments.
@main
enum ReplayCorpus {
    static func main() {
        _ = telemetry_fuzz_replay(CommandLine.argc, CommandLine.unsafeArgv, telemetryFuzzJSON)
    }
}
#endif
