import Logging
import Synchronization
import Testing

@testable import Collector

@Suite struct DeferredMetadataLogHandlerTests {
    /// What is logged carries the logger's metadata (an event's own winning a clash) and
    /// respects its level, as the wrapped handler alone would.
    @Test func eventsCarryTheLoggersMetadataAndLevel() {
        var base = CapturedLog()
        base[metadataKey: "daemon"] = "collector"
        let captured = base.entries
        var logger = Logger(label: "test") { _ in DeferredMetadataLogHandler(wrapping: base) }
        logger.logLevel = .warning
        logger[metadataKey: "server"] = "otlp"
        logger[metadataKey: "request"] = "1"
        #expect(logger[metadataKey: "daemon"] == "collector")
        logger.info("not at this level")
        logger.error("failed", metadata: ["request": "2", "path": "/v1/traces"])
        let entries = captured.list.withLock { $0 }
        #expect(entries.count == 1)
        #expect(entries.first?.level == .error && entries.first?.message == "failed")
        #expect(entries.first?.metadata == ["daemon": "collector", "server": "otlp", "request": "2", "path": "/v1/traces"])
    }
}
