/// The `Retry-After` header (RFC 9110 §10.2.3): "either an HTTP-date or a number of
/// seconds to delay after the response is received".
enum RetryAfter {
    /// The delay the header asks for, given the current Unix time in seconds; `nil` when
    /// the value is neither form. A date in the past means "now".
    static func delay(_ value: String, nowUnixSeconds: Int64) -> Duration? {
        let trimmed = value.trimmingASCIIWhitespace()
        if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            guard let seconds = Int64(trimmed) else { return nil }
            return .seconds(seconds)
        }
        guard let date = imfFixdate(trimmed) else { return nil }
        return .seconds(max(0, date - nowUnixSeconds))
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Parses the preferred HTTP-date form, IMF-fixdate (RFC 9110 §5.6.7):
    /// `Sun, 06 Nov 1994 08:49:37 GMT`. The obsolete RFC 850 and asctime forms, which the
    /// RFC says recipients "MUST accept", are accepted too.
    static func imfFixdate(_ value: String) -> Int64? {
        let parts = value.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var day: Int64?, month: Int?, year: Int64?, time: String?
        if parts.count == 6, parts[0].hasSuffix(","), parts[5] == "GMT" {
            // IMF-fixdate: day-name "," SP day SP month SP year SP time SP "GMT"
            day = Int64(parts[1])
            month = months.firstIndex(of: parts[2])
            year = Int64(parts[3])
            time = parts[4]
        } else if parts.count == 4, parts[0].hasSuffix(","), parts[3] == "GMT" {
            // rfc850-date: day-name "," SP 06-Nov-94 SP time SP "GMT"; two-digit years
            // that look more than 50 years ahead are in the past century (§5.6.7).
            let dateParts = parts[1].split(separator: "-").map(String.init)
            guard dateParts.count == 3, let shortYear = Int64(dateParts[2]) else { return nil }
            day = Int64(dateParts[0])
            month = months.firstIndex(of: dateParts[1])
            year = shortYear < 70 ? 2000 + shortYear : 1900 + shortYear
            time = parts[2]
        } else if parts.count == 5 {
            // asctime-date: day-name SP month SP ( 2DIGIT / ( SP DIGIT )) SP time SP year
            month = months.firstIndex(of: parts[1])
            day = Int64(parts[2])
            time = parts[3]
            year = Int64(parts[4])
        }
        guard let day, let month, let year, let time, (1...31).contains(day) else { return nil }
        let clock = time.split(separator: ":").map { Int64($0) }
        guard clock.count == 3, let hour = clock[0], let minute = clock[1], let second = clock[2],
            (0..<24).contains(hour), (0..<60).contains(minute), (0...60).contains(second)
        else { return nil }
        return daysFromCivil(year: year, month: Int64(month + 1), day: day) * 86_400 + hour * 3_600 + minute * 60 + second
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil` algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let utf8 = self.utf8
        guard let first = utf8.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
            let last = utf8.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })
        else { return "" }
        return String(self[first...last])
    }
}
