import ArgumentParser
import Telemetry

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `causeway convert`: one payload from one wire format to another, through the
/// Telemetry model, so every codec the collector uses can be driven from a shell.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert telemetry between OTLP protobuf, OTLP JSON, Zipkin v2 JSON and Jaeger UI JSON.",
        discussion: """
            Reads the whole input (stdin unless --input), decodes it as --from, encodes it \
            as --to and writes the result (stdout unless --output). Zipkin and Jaeger carry \
            traces only; Jaeger UI JSON is an output format. A payload that does not decode \
            prints the error, with the path of the fault, on stderr and exits with status 1.
            """
    )

    enum Format: String, CaseIterable, ExpressibleByArgument {
        case otlpProto = "otlp-proto"
        case otlpJSON = "otlp-json"
        case zipkin
        case jaeger
    }

    /// Which OTLP message the payload is.
    enum Kind: String, CaseIterable, ExpressibleByArgument {
        case traces
        case logs
        case tracesResponse = "traces-response"
        case logsResponse = "logs-response"
        case status
    }

    @Option(help: "The input format: otlp-proto, otlp-json or zipkin.")
    var from: Format

    @Option(help: "The output format: otlp-proto, otlp-json, zipkin or jaeger.")
    var to: Format

    @Option(help: "The OTLP message: traces, logs, traces-response, logs-response or status.")
    var kind: Kind = .traces

    @Option(help: "Read from this file instead of stdin.")
    var input: String?

    @Option(help: "Write to this file instead of stdout.")
    var output: String?

    func validate() throws {
        if from == .jaeger {
            throw ValidationError(
                "--from jaeger is not supported: Jaeger UI JSON is an output format only. Use otlp-proto, otlp-json or zipkin.")
        }
        if kind != .traces {
            for (option, format) in [("--from", from), ("--to", to)] where format == .zipkin || format == .jaeger {
                throw ValidationError(
                    "\(option) \(format.rawValue) carries traces only, not --kind \(kind.rawValue); use otlp-proto or otlp-json.")
            }
        }
    }

    func run() throws {
        let bytes: [UInt8]
        do {
            bytes = try input.map(FileIO.readFile) ?? FileIO.readStandardInput()
        } catch {
            throw Self.fail(error)
        }
        let converted: [UInt8]
        do {
            converted = try Self.convert(bytes, kind: kind, from: from, to: to)
        } catch {
            throw Self.fail(error)
        }
        do {
            if let output {
                try FileIO.writeFile(output, converted)
            } else {
                try FileIO.writeStandardOutput(converted)
            }
        } catch {
            throw Self.fail(error)
        }
    }

    /// Prints the error the way every causeway subcommand does and exits with status 1.
    private static func fail(_ error: any Error) -> ExitCode {
        FileIO.writeStandardError("causeway convert: \(error)\n")
        return ExitCode(1)
    }

    /// The conversion itself, separate from I/O. `validate()` has already refused the
    /// combinations that make no sense.
    static func convert(_ bytes: [UInt8], kind: Kind, from: Format, to: Format) throws(TelemetryDecodingError) -> [UInt8] {
        switch kind {
        case .traces:
            let request: ExportTraceServiceRequest
            switch from {
            case .otlpProto: request = try ExportTraceServiceRequest(protobuf: bytes)
            case .otlpJSON: request = try ExportTraceServiceRequest(otlpJSON: bytes)
            case .zipkin: request = try ZipkinV2JSON.decode(bytes)
            case .jaeger: preconditionFailure("refused by validate()")
            }
            switch to {
            case .otlpProto: return request.protobufBytes()
            case .otlpJSON: return request.otlpJSONBytes()
            case .zipkin: return ZipkinV2JSON.encode(request)
            case .jaeger: return JaegerUIJSON.encode(request)
            }
        case .logs:
            return try recode(ExportLogsServiceRequest.self, bytes, from: from, to: to)
        case .tracesResponse:
            return try recode(ExportTraceServiceResponse.self, bytes, from: from, to: to)
        case .logsResponse:
            return try recode(ExportLogsServiceResponse.self, bytes, from: from, to: to)
        case .status:
            return try recode(RPCStatus.self, bytes, from: from, to: to)
        }
    }

    private static func recode<Message: OTLPMessage>(
        _: Message.Type, _ bytes: [UInt8], from: Format, to: Format
    ) throws(TelemetryDecodingError) -> [UInt8] {
        let message: Message
        switch from {
        case .otlpProto: message = try Message(protobuf: bytes)
        case .otlpJSON: message = try Message(otlpJSON: bytes)
        case .zipkin, .jaeger: preconditionFailure("refused by validate()")
        }
        switch to {
        case .otlpProto: return message.protobufBytes()
        case .otlpJSON: return message.otlpJSONBytes()
        case .zipkin, .jaeger: preconditionFailure("refused by validate()")
        }
    }
}

/// The OTLP messages that have both an OTLP protobuf and an OTLP JSON codec.
protocol OTLPMessage {
    init(protobuf: [UInt8]) throws(TelemetryDecodingError)
    init(otlpJSON: [UInt8]) throws(TelemetryDecodingError)
    func protobufBytes() -> [UInt8]
    func otlpJSONBytes() -> [UInt8]
}

extension ExportLogsServiceRequest: OTLPMessage {}
extension ExportTraceServiceResponse: OTLPMessage {}
extension ExportLogsServiceResponse: OTLPMessage {}
extension RPCStatus: OTLPMessage {}

/// Whole-file reads and writes on file descriptors, so the executable needs no Foundation
/// and touches none of the C library's shared `FILE` streams.
enum FileIO {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func readFile(_ path: String) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw failure("cannot read \(path)") }
        defer { close(fd) }
        return try readAll(fd, name: path)
    }

    static func readStandardInput() throws(Failure) -> [UInt8] {
        try readAll(STDIN_FILENO, name: "stdin")
    }

    static func writeFile(_ path: String, _ bytes: [UInt8]) throws(Failure) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw failure("cannot write \(path)") }
        defer { close(fd) }
        try writeAll(bytes, to: fd, name: path)
    }

    static func writeStandardOutput(_ bytes: [UInt8]) throws(Failure) {
        try writeAll(bytes, to: STDOUT_FILENO, name: "stdout")
    }

    static func writeStandardError(_ text: String) {
        _ = try? writeAll(Array(text.utf8), to: STDERR_FILENO, name: "stderr")
    }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }

    private static func readAll(_ fd: Int32, name: String) throws(Failure) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return result }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot read \(name)")
            }
            result.append(contentsOf: chunk[0..<count])
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32, name: String) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("cannot write \(name)")
            }
            offset += count
        }
    }
}
