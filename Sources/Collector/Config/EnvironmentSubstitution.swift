import Foundation

/// `${env:VAR}` and `${env:VAR:-default}` in configuration values, as the OpenTelemetry
/// Collector's `env` provider resolves them (https://opentelemetry.io/docs/collector/configuration/#environment-variables).
/// `$$` stands for a literal `$`.
enum EnvironmentSubstitution {
    struct Failure: Error {
        var reason: String
    }

    static func substitute(_ text: String, environment: [String: String]) throws(Failure) -> String {
        guard text.contains("$") else { return text }
        var result = ""
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            guard character == "$" else {
                result.append(character)
                index = text.index(after: index)
                continue
            }
            let next = text.index(after: index)
            if next < text.endIndex, text[next] == "$" {
                result.append("$")
                index = text.index(after: next)
                continue
            }
            guard next < text.endIndex, text[next] == "{" else {
                result.append(character)
                index = next
                continue
            }
            guard let close = text[next...].firstIndex(of: "}") else {
                throw Failure(reason: "unterminated ${…} in \"\(text)\"")
            }
            let reference = text[text.index(after: next)..<close]
            guard reference.hasPrefix("env:") else {
                throw Failure(reason: "unsupported reference ${\(reference)}: only ${env:VAR} and ${env:VAR:-default} are")
            }
            let body = reference.dropFirst(4)
            let name: Substring
            let fallback: Substring?
            if let separator = body.range(of: ":-") {
                name = body[..<separator.lowerBound]
                fallback = body[separator.upperBound...]
            } else {
                name = body
                fallback = nil
            }
            guard isValidName(name) else {
                throw Failure(reason: "invalid environment variable name \"\(name)\" in ${\(reference)}")
            }
            if let value = environment[String(name)], !(value.isEmpty && fallback != nil) {
                result += value
            } else if let fallback {
                result += fallback
            } else {
                throw Failure(reason: "environment variable \(name) is not set (write ${env:\(name):-default} for a default)")
            }
            index = text.index(after: close)
        }
        return result
    }

    private static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.first, first == "_" || first.isLetter else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
    }
}
