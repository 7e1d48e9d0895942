import Foundation
package import Telemetry

/// The terminal picture of a chain `causeway chain` prints: one lane per service, its spans
/// as bars (`=`, `x` for a span with an error status), queue waits as `.` before each
/// consumer span, `D` where a dead-lettered message was produced; then the hops with their
/// waits and the missing parts.
package enum ChainWaterfall {
    /// - Parameters:
    ///   - chain: one element of `/api/chains/{id}`'s `data`.
    ///   - width: columns of the time axis.
    package static func render(_ chain: [String: Any], width: Int = 60) -> String {
        let width = max(width, 10)
        let start = chain["startTimeUnixNano"] as? Int ?? 0
        let end = max(chain["endTimeUnixNano"] as? Int ?? start, start + 1)
        let span = Double(end - start)
        func column(_ time: Int) -> Int { min(width - 1, max(0, Int(Double(time - start) / span * Double(width)))) }

        var lines: [String] = []
        var header = "chain \(chain["chainID"] as? String ?? "?")"
        if let correlation = chain["correlationID"] as? String { header += "  correlation \(correlation)" }
        header += "  \(chain["status"] as? String ?? "?")"
        if chain["open"] as? Bool == true { header += " (open)" }
        header += "  end-to-end \(duration(end - start))"
        header += "  \(chain["hopCount"] as? Int ?? 0) hops, \(chain["spanCount"] as? Int ?? 0) spans"
        lines.append(header)

        // Lanes: services in order of their first span.
        var lanes: [String] = []
        var cells: [String: [Character]] = [:]
        var spansByStart: [(service: String, span: Span)] = []
        if let object = chain["spans"], let data = try? JSONSerialization.data(withJSONObject: object),
            let request = try? ExportTraceServiceRequest(otlpJSON: Array(data))
        {
            for resourceSpans in request.resourceSpans {
                let service = resourceSpans.resource?.serviceName ?? "unknown_service"
                for scopeSpans in resourceSpans.scopeSpans {
                    for item in scopeSpans.spans { spansByStart.append((service, item)) }
                }
            }
        }
        spansByStart.sort { $0.span.startTimeUnixNano < $1.span.startTimeUnixNano }
        func lane(_ service: String) {
            if cells[service] == nil {
                lanes.append(service)
                cells[service] = Array(repeating: " ", count: width)
            }
        }
        for (service, item) in spansByStart {
            lane(service)
            let mark: Character = item.status.code == .error ? "x" : "="
            for index in column(Int(clamping: item.startTimeUnixNano))...column(Int(clamping: item.endTimeUnixNano)) {
                if cells[service]![index] != "x" { cells[service]![index] = mark }
            }
        }
        let hops = chain["hops"] as? [[String: Any]] ?? []
        for hop in hops {
            let producer = hop["producer"] as? [String: Any] ?? [:]
            if hop["deadLetter"] as? Bool == true, let service = producer["service"] as? String,
                let time = producer["startTimeUnixNano"] as? Int
            {
                lane(service)
                cells[service]![column(time)] = "D"
            }
            for delivery in hop["deliveries"] as? [[String: Any]] ?? [] {
                guard let service = delivery["service"] as? String, let consumerStart = delivery["startTimeUnixNano"] as? Int,
                    let wait = delivery["queueWaitNanos"] as? Int, wait > 0
                else { continue }
                lane(service)
                let from = column(consumerStart - wait), to = column(consumerStart)
                for index in from..<max(from, to) where cells[service]![index] == " " { cells[service]![index] = "." }
            }
        }
        let nameWidth = min(24, lanes.map(\.count).max() ?? 0)
        func padded(_ text: String) -> String {
            let cut = String(text.prefix(nameWidth))
            return cut + String(repeating: " ", count: nameWidth - cut.count)
        }
        let axisEnd = duration(end - start)
        lines.append(padded("") + "  0" + String(repeating: " ", count: max(1, width - 1 - axisEnd.count)) + axisEnd)
        for service in lanes {
            lines.append(padded(service) + " |" + String(cells[service]!) + "|")
        }

        if !hops.isEmpty { lines.append("hops:") }
        for (index, hop) in hops.enumerated() {
            let producer = hop["producer"] as? [String: Any] ?? [:]
            var line = "  \(index + 1). \(hop["topic"] as? String ?? "?"): \(producer["service"] as? String ?? "(not received)")"
            let deliveries = hop["deliveries"] as? [[String: Any]] ?? []
            let consumers = deliveries.map { delivery -> String in
                var text = delivery["service"] as? String ?? "?"
                if let group = delivery["consumerGroup"] as? String, group != text { text += " [\(group)]" }
                if let wait = delivery["queueWaitNanos"] as? Int { text += " waited \(duration(wait))" }
                if let attempt = delivery["attempt"] as? Int, attempt > 1 { text += " (retry \(attempt - 1))" }
                if delivery["duplicateSkipped"] as? Bool == true { text += " (duplicate skipped)" }
                if delivery["error"] as? Bool == true { text += " ERROR" }
                return text
            }
            line += " -> " + (consumers.isEmpty ? "(no consumer)" : consumers.joined(separator: ", "))
            if producer["error"] as? Bool == true { line += "  PRODUCER ERROR" }
            if hop["deadLetter"] as? Bool == true { line += "  DEAD LETTER" }
            if hop["onCriticalPath"] as? Bool == true { line += "  *" }
            lines.append(line)
        }
        let missing = chain["missing"] as? [[String: Any]] ?? []
        if !missing.isEmpty { lines.append("missing:") }
        for part in missing {
            switch part["kind"] as? String {
            case "unconsumed_message":
                let producer = part["producer"] as? [String: Any] ?? [:]
                lines.append("  message on \(part["topic"] as? String ?? "?") sent by span \(producer["spanID"] as? String ?? "?") was never consumed")
            case "orphan_link":
                let consumer = part["consumer"] as? [String: Any] ?? [:]
                let target = part["target"] as? [String: Any] ?? [:]
                lines.append("  span \(consumer["spanID"] as? String ?? "?") links to span \(target["spanID"] as? String ?? "?") of trace \(target["traceID"] as? String ?? "?"), never received")
            default:
                lines.append("  \(part)")
            }
        }
        if !hops.isEmpty { lines.append("(* on the critical path; = span, x error, . queue wait, D dead letter)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `130ms`, `1.5s`, `250us`.
    static func duration(_ nanos: Int) -> String {
        let value = Double(nanos)
        if abs(value) >= 1e9 { return format(value / 1e9) + "s" }
        if abs(value) >= 1e6 { return format(value / 1e6) + "ms" }
        if abs(value) >= 1e3 { return format(value / 1e3) + "us" }
        return "\(nanos)ns"
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
