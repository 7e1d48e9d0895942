public import Telemetry

/// How a decode that skims span attributes (`init(protobuf:keepingSpanBytes:skimming:)`)
/// disagrees with a full decode of the same bytes; nil when it does not. They must refuse
/// alike, with the same error, and otherwise give the same spans but for what skimming
/// leaves out, which `decodeSkimmedAttributes()` must then restore. Compared as protobuf
/// bytes, since a NaN is unequal to itself.
public func skimmingDisagreement(_ input: UnsafeRawBufferPointer, skim: AttributeSkim = .keepingNothing) -> String? {
    let full = Result { () throws(TelemetryDecodingError) in try ExportTraceServiceRequest(protobuf: input) }
    let skimmed = Result { () throws(TelemetryDecodingError) in
        try ExportTraceServiceRequest(protobuf: input, keepingSpanBytes: true, skimming: skim)
    }
    switch (full, skimmed) {
    case (.failure(let fullError), .failure(let skimError)):
        return fullError.description == skimError.description
            ? nil : "refused differently: full decode \"\(fullError)\", skimming \"\(skimError)\""
    case (.failure(let error), .success):
        return "skimming accepted what the full decode refuses: \(error)"
    case (.success, .failure(let error)):
        return "skimming refused what the full decode accepts: \(error)"
    case (.success(let full), .success(var skimmed)):
        guard skimmed.attributesSkimmed else { return "the skimmed request does not say it was skimmed" }
        if skimmed.protobufBytes() != withoutSkimmedParts(full, skim).protobufBytes() {
            return "skimming changed or lost something it keeps"
        }
        if skimmed.receivedProtobuf != Array(input) { return "the skimmed request does not hold the bytes received" }
        skimmed.decodeSkimmedAttributes()
        if skimmed.attributesSkimmed || skimmed.protobufBytes() != full.protobufBytes() {
            return "decodeSkimmedAttributes() did not restore the full decode"
        }
        return nil
    }
}

/// `request` without what skimming leaves out: spans' and links' attributes, spans' events,
/// but for the spans' attributes and events `skim` keeps.
private func withoutSkimmedParts(_ request: ExportTraceServiceRequest, _ skim: AttributeSkim) -> ExportTraceServiceRequest {
    var request = request
    for r in request.resourceSpans.indices {
        for s in request.resourceSpans[r].scopeSpans.indices {
            for i in request.resourceSpans[r].scopeSpans[s].spans.indices {
                request.resourceSpans[r].scopeSpans[s].spans[i].attributes.removeAll { !skim.keptAttributeKeys.contains($0.key) }
                request.resourceSpans[r].scopeSpans[s].spans[i].events.removeAll { !skim.keptEventNames.contains($0.name) }
                for l in request.resourceSpans[r].scopeSpans[s].spans[i].links.indices {
                    request.resourceSpans[r].scopeSpans[s].spans[i].links[l].attributes = []
                }
            }
        }
    }
    return request
}
