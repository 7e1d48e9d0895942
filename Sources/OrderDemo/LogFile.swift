public import EventTracing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// JSON log lines appended to a file, for services that share a terminal with the demo's
/// own output.
public enum LogFile {
    /// An output appending to `path` (created when missing).
    public static func output(_ path: String) throws -> JSONLogHandler.Output {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ScenarioError(message: "cannot open \(path) for the log: errno \(errno)") }
        return .fileDescriptor(descriptor)
    }
}
