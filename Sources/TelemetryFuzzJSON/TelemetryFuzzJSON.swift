import Telemetry
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
        _ = ZipkinV2JSON.encode(request)
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

/// Whatever decoded must come back unchanged through our own OTLP JSON and through our
/// own protobuf. Bytes are compared rather than models so that a NaN double, which is
/// unequal to itself, still counts as unchanged.
func checkRoundTrips<Message: OTLPMessage>(_ message: Message) {
    let encoded = message.otlpJSONBytes()
    do {
        let again = try Message(otlpJSON: encoded)
        if again.otlpJSONBytes() != encoded {
            fatalError("\(Message.self): OTLP JSON encode→decode→encode changed the bytes")
        }
    } catch {
        fatalError("\(Message.self): our own OTLP JSON does not decode: \(error)")
    }
    do {
        let viaProtobuf = try Message(protobuf: message.protobufBytes())
        if viaProtobuf.otlpJSONBytes() != encoded {
            fatalError("\(Message.self): protobuf encode→decode lost or changed a field")
        }
    } catch {
        fatalError("\(Message.self): our own protobuf does not decode: \(error)")
    }
}

/// Zipkin cannot carry everything OTLP can, so one Zipkin encode may lose fields; from
/// then on the Zipkin form must be stable.
func checkZipkinRoundTrip(_ request: ExportTraceServiceRequest) {
    let encoded = ZipkinV2JSON.encode(request)
    do {
        let again = try ZipkinV2JSON.decode(encoded)
        if ZipkinV2JSON.encode(again) != encoded {
            fatalError("Zipkin encode→decode→encode changed the bytes")
        }
    } catch {
        fatalError("our own Zipkin v2 JSON does not decode: \(error)")
    }
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
