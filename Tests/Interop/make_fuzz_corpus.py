"""Writes the fuzzers' seed corpus: valid messages built with the official packages and
near-valid ones a hostile or buggy sender would produce.

    python Tests/Interop/make_fuzz_corpus.py      # rewrites Tests/Fuzz/corpus/

Run it after changing samples.py and commit the result; `make fuzz` only reads it.
"""

import base64
import json
import pathlib

from google.protobuf import json_format

import samples
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

CORPUS = pathlib.Path(__file__).resolve().parents[1] / "Fuzz" / "corpus"


def one_span_request(**fields):
    span = trace_pb2.Span(trace_id=samples.TRACE_ID, span_id=samples.SPAN_ID, name="s",
                          start_time_unix_nano=1, end_time_unix_nano=2, **fields)
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )


def deep_value(levels):
    value = common_pb2.AnyValue(string_value="bottom")
    for level in range(levels):
        if level % 2:
            value = common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[value]))
        else:
            value = common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=[samples.kv("k", value)]))
    return value


def protobuf_seeds():
    seeds = {}
    for kind, (_, build) in samples.KINDS.items():
        seeds[f"{kind}-every-field.pb"] = build().SerializeToString()
    seeds["traces-one-span.pb"] = one_span_request().SerializeToString()
    seeds["traces-plain-spans.pb"] = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=samples.plain_spans())])]
    ).SerializeToString()
    seeds["traces-depth-31.pb"] = one_span_request(attributes=[samples.kv("d", deep_value(31))]).SerializeToString()
    seeds["traces-depth-34.pb"] = one_span_request(attributes=[samples.kv("d", deep_value(34))]).SerializeToString()
    full = samples.full_trace_request().SerializeToString()
    seeds["traces-truncated.pb"] = full[: len(full) // 2]
    short = one_span_request()
    short.resource_spans[0].scope_spans[0].spans[0].trace_id = samples.TRACE_ID[:15]
    seeds["traces-trace-id-15-bytes.pb"] = short.SerializeToString()
    zero = one_span_request()
    zero.resource_spans[0].scope_spans[0].spans[0].trace_id = bytes(16)
    seeds["traces-zero-trace-id.pb"] = zero.SerializeToString()
    # Found by the fuzzer: a start in the last microsecond before 2^64 ns, where the Zipkin
    # encoder's 1 µs minimum duration ran past OTLP's nanoseconds.
    late = one_span_request()
    late.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = 2**64 - 2
    seeds["traces-start-in-last-microsecond.pb"] = late.SerializeToString()
    seeds["traces-invalid-utf8.pb"] = one_span_request().SerializeToString().replace(b"\x2a\x01s", b"\x2a\x01\xff")
    seeds["wrong-wire-type.pb"] = bytes([0x08, 0x01])
    seeds["overlong-varint.pb"] = bytes([0x0A]) + bytes([0xFF] * 10) + bytes([0x01])
    seeds["length-past-end.pb"] = bytes([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x12])
    seeds["unknown-fields.pb"] = bytes([0x98, 0x06, 0x2A, 0xA2, 0x06, 0x01, 0x41, 0xAD, 0x06, 1, 2, 3, 4, 0xB1, 0x06]) + bytes(8)
    seeds["empty.pb"] = b""
    return seeds


def hex_ids(document):
    if isinstance(document, dict):
        return {
            key: (base64.b64decode(value).hex() if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str)
                  else hex_ids(value))
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [hex_ids(item) for item in document]
    return document


def compact(document):
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def json_seeds():
    seeds = {}
    for kind, (_, build) in samples.KINDS.items():
        message = build() if kind != "status" else samples.rpc_status(with_details=False)
        seeds[f"{kind}-protobuf-json.json"] = compact(json_format.MessageToDict(message))
        seeds[f"{kind}-otlp-json.json"] = compact(hex_ids(json_format.MessageToDict(message, use_integers_for_enums=True)))
    span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "parentSpanId": "",
            "name": "s", "kind": 2, "startTimeUnixNano": 1, "endTimeUnixNano": "2",
            "attributes": [{"key": "a", "value": {"intValue": "9223372036854775807"}},
                           {"key": "b", "value": {"doubleValue": "NaN"}},
                           {"key": "c", "value": {"bytesValue": "AAEC/w=="}}],
            "status": {"code": "STATUS_CODE_ERROR"}}
    seeds["traces-small.json"] = compact({"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]})
    seeds["traces-31-hex-digits.json"] = seeds["traces-small.json"].replace(b"3fc60c", b"3fc60")
    seeds["traces-int64-overflow.json"] = seeds["traces-small.json"].replace(b"9223372036854775807", b"9223372036854775808")
    seeds["traces-truncated.json"] = seeds["traces-small.json"][:90]
    seeds["traces-deep-arrays.json"] = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"k","value":' + b'{"arrayValue":{"values":[' * 40 + b"{}" + b"]}}" * 40 + b"}]}]}]}]}"
    seeds["json-nesting-100.json"] = b"[" * 100 + b"]" * 100
    seeds["json-escapes.json"] = '{"resourceSpans":[{"resource":{"attributes":[{"key":"\\ud83c\\udf0d\\u0000\\n","value":{"stringValue":"\\ud800 lone"}}]}}]}'.encode()
    seeds["json-numbers.json"] = b'{"partialSuccess":{"rejectedSpans":1e400,"rejectedLogRecords":-0,"x":[0.1e-999,-1E+2,18446744073709551616]}}'
    seeds["status.json"] = b'{"code":3,"message":"bad","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","value":"CgFh"}]}'
    zipkin = [
        {"traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312", "parentId": "0020000000000001",
         "name": "get /api", "kind": "SERVER", "timestamp": 1502787600000000, "duration": 207000,
         "localEndpoint": {"serviceName": "frontend", "ipv4": "127.0.0.1", "port": 8080},
         "remoteEndpoint": {"ipv6": "::1", "serviceName": "client"},
         "annotations": [{"timestamp": 1502787600100000, "value": "wr"},
                         {"timestamp": 1502787600100001, "value": "exception:{\"type\":\"E\"}"}],
         "tags": {"http.method": "GET", "error": "", "otel.status_code": "ERROR",
                  "otel.link.0.trace_id": "463ac35c9f6413ad48485a3953bb6124", "otel.link.0.span_id": "0020000000000001",
                  "otel.link.0.attributes": "{\"a\":1}"},
         "debug": True, "shared": True},
        {"traceId": "48485a3953bb6124", "id": "0000000000000001", "name": "local", "timestamp": 1, "duration": 0},
    ]
    seeds["zipkin-spans.json"] = compact(zipkin)
    seeds["zipkin-upper-case.json"] = seeds["zipkin-spans.json"].replace(b"463ac35c", b"463AC35C")
    seeds["zipkin-empty.json"] = b"[]"
    return seeds


def write(target, seeds):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    for name, data in seeds.items():
        (folder / name).write_bytes(data)
    print(f"{folder}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    write("TelemetryFuzzProtobuf", protobuf_seeds())
    write("TelemetryFuzzJSON", json_seeds())
