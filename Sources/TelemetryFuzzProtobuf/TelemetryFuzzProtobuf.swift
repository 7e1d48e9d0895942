import Telemetry
import TelemetryFuzzDriver

/// libFuzzer's entry point: every OTLP protobuf decoder sees every input. A decode error
/// is the expected answer to garbage; a crash, a hang, a sanitizer report or a failed
/// round trip below is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func telemetryFuzzProtobuf(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let bytes = Array(input)

    if let request = try? ExportTraceServiceRequest(protobuf: input) {
        checkRoundTrips(request)
        _ = ZipkinV2JSON.encode(request)
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

/// The messages with both OTLP codecs.
protocol OTLPMessage {
    init(protobuf: [UInt8]) throws(TelemetryDecodingError)
    init(otlpJSON: [UInt8]) throws(TelemetryDecodingError)
    func protobufBytes() -> [UInt8]
    func otlpJSONBytes() -> [UInt8]
}

extension ExportTraceServiceRequest: OTLPMessage {}
extension ExportLogsServiceRequest: OTLPMessage {}
extension ExportTraceServiceResponse: OTLPMessage {}
extension ExportLogsServiceResponse: OTLPMessage {}
extension RPCStatus: OTLPMessage {}

/// Whatever decoded must come back unchanged through our own protobuf and through our
/// own OTLP JSON. Bytes are compared rather than models so that a NaN double, which is
/// unequal to itself, still counts as unchanged.
func checkRoundTrips<Message: OTLPMessage>(_ message: Message) {
    let encoded = message.protobufBytes()
    do {
        let again = try Message(protobuf: encoded)
        if again.protobufBytes() != encoded {
            fatalError("\(Message.self): protobuf encode→decode→encode changed the bytes")
        }
    } catch {
        fatalError("\(Message.self): our own protobuf does not decode: \(error)")
    }
    do {
        let viaJSON = try Message(otlpJSON: message.otlpJSONBytes())
        if viaJSON.protobufBytes() != encoded {
            fatalError("\(Message.self): OTLP JSON encode→decode lost or changed a field")
        }
    } catch {
        fatalError("\(Message.self): our own OTLP JSON does not decode: \(error)")
    }
}

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
