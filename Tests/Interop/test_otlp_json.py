"""OTLP JSON, against protobuf's own JSON mapping (google.protobuf.json_format).

OTLP JSON is proto3 JSON with three differences (OTLP spec, "JSON Protobuf Encoding"):
trace and span IDs are hex rather than base64, enums are integers, and keys are
lowerCamelCase (json_format's default too). Causeway writes the OTLP form and reads both.
"""

import base64
import json
import re

import pytest
from google.protobuf import json_format

import samples

ID_KEYS = {"traceId", "spanId", "parentSpanId"}
INT64_KEYS = {
    "intValue", "timeUnixNano", "startTimeUnixNano", "endTimeUnixNano", "observedTimeUnixNano",
    "rejectedSpans", "rejectedLogRecords",
}


def json_kinds():
    # google.rpc.Status details are `Any`s; proto3 JSON writes an Any as the fields of the
    # message it holds, which needs that message's schema, so JSON tests use none.
    kinds = dict(samples.KINDS)
    message_class, _ = kinds["status"]
    kinds["status"] = (message_class, lambda: samples.rpc_status(with_details=False))
    return kinds


def walk(value, visit):
    if isinstance(value, dict):
        return {key: visit(key, walk(item, visit)) for key, item in value.items()}
    if isinstance(value, list):
        return [walk(item, visit) for item in value]
    return value


def hex_ids_to_base64(document):
    def visit(key, value):
        if key in ID_KEYS and isinstance(value, str):
            return base64.b64encode(bytes.fromhex(value)).decode()
        return value

    return walk(document, visit)


def base64_ids_to_hex(document, upper=False):
    def visit(key, value):
        if key in ID_KEYS and isinstance(value, str):
            digits = base64.b64decode(value).hex()
            return digits.upper() if upper else digits
        return value

    return walk(document, visit)


def int64_strings_to_numbers(document):
    def visit(key, value):
        if key in INT64_KEYS and isinstance(value, str):
            return int(value)
        return value

    return walk(document, visit)


def ids_in(document, found=None):
    found = [] if found is None else found
    if isinstance(document, dict):
        for key, value in document.items():
            if key in ID_KEYS:
                found.append((key, value))
            ids_in(value, found)
    elif isinstance(document, list):
        for item in document:
            ids_in(item, found)
    return found


@pytest.mark.parametrize("kind", list(json_kinds()))
def test_our_otlp_json_parses_in_protobuf_to_the_same_message(convert, kind):
    message_class, build = json_kinds()[kind]
    original = build()
    output = convert(original.SerializeToString(), source="otlp-proto", target="otlp-json", kind=kind)
    document = json.loads(output)
    parsed = json_format.ParseDict(hex_ids_to_base64(document), message_class())
    samples.assert_same_meaning(original, parsed)


def test_our_otlp_json_writes_ids_as_lowercase_hex(convert):
    original = samples.full_trace_request()
    document = json.loads(convert(original.SerializeToString(), source="otlp-proto", target="otlp-json"))
    ids = ids_in(document)
    assert ids, "no IDs in the output"
    for key, value in ids:
        if value == "":
            continue
        length = 16 if key != "traceId" else 32
        assert re.fullmatch(f"[0-9a-f]{{{length}}}", value), f"{key}: {value!r} is not {length} lowercase hex digits"


def test_our_otlp_json_writes_enums_as_integers(convert):
    original = samples.full_trace_request()
    document = json.loads(convert(original.SerializeToString(), source="otlp-proto", target="otlp-json"))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["kind"] == 5
    assert span["status"]["code"] == 2
    logs = samples.full_logs_request()
    document = json.loads(convert(logs.SerializeToString(), source="otlp-proto", target="otlp-json", kind="logs"))
    assert document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["severityNumber"] == 10


@pytest.mark.parametrize("kind", list(json_kinds()))
def test_protobuf_default_json_decodes_to_the_same_message(convert, kind):
    # json_format's default output: base64 IDs, enum names, int64 as strings.
    message_class, build = json_kinds()[kind]
    original = build()
    text = json_format.MessageToJson(original).encode()
    output = convert(text, source="otlp-json", target="otlp-proto", kind=kind)
    samples.assert_same_meaning(original, message_class.FromString(output))


@pytest.mark.parametrize("kind", list(json_kinds()))
def test_hex_ids_integer_enums_and_numeric_int64_decode_to_the_same_message(convert, kind):
    message_class, build = json_kinds()[kind]
    original = build()
    document = json_format.MessageToDict(original, use_integers_for_enums=True)
    document = int64_strings_to_numbers(base64_ids_to_hex(document, upper=True))
    output = convert(json.dumps(document).encode(), source="otlp-json", target="otlp-proto", kind=kind)
    samples.assert_same_meaning(original, message_class.FromString(output))


@pytest.mark.parametrize("kind", list(json_kinds()))
def test_otlp_json_round_trip_keeps_every_field(convert, kind):
    message_class, build = json_kinds()[kind]
    original = build()
    json_bytes = convert(original.SerializeToString(), source="otlp-proto", target="otlp-json", kind=kind)
    output = convert(json_bytes, source="otlp-json", target="otlp-proto", kind=kind)
    samples.assert_same_meaning(original, message_class.FromString(output))


def test_partial_success_response_reads_as_protobuf_json_does(convert):
    document = {"partialSuccess": {"rejectedSpans": "42", "errorMessage": "two spans had no trace ID"}}
    output = convert(json.dumps(document).encode(), source="otlp-json", target="otlp-proto", kind="traces-response")
    expected = json_format.ParseDict(document, samples.KINDS["traces-response"][0]())
    samples.assert_same(expected, samples.KINDS["traces-response"][0].FromString(output))


def test_rpc_status_json_reads_as_protobuf_json_does(convert):
    document = {"code": 8, "message": "queue full, retry after 5s"}
    output = convert(json.dumps(document).encode(), source="otlp-json", target="otlp-proto", kind="status")
    expected = json_format.ParseDict(document, samples.KINDS["status"][0]())
    samples.assert_same(expected, samples.KINDS["status"][0].FromString(output))
