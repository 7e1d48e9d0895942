"""Bad input: causeway convert exits 1 and names the path of the fault on stderr."""

import json
import re

import pytest

import samples
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


def one_span_request(**fields):
    span = trace_pb2.Span(trace_id=samples.TRACE_ID, span_id=samples.SPAN_ID, name="s", **fields)
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )


def assert_fails_at(result, path_pattern):
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 1, f"exit {result.returncode}, stderr: {stderr!r}"
    assert result.stdout == b"", "nothing may be written on a decode error"
    assert stderr.startswith("causeway convert: "), stderr
    assert re.search(path_pattern, stderr), f"{path_pattern!r} not in {stderr!r}"


@pytest.mark.parametrize("keep", [0.25, 0.5, 0.9, 0.999])
def test_truncated_protobuf_fails_with_a_path(convert, keep):
    data = samples.full_trace_request().SerializeToString()
    result = convert.run(data[: int(len(data) * keep)], source="otlp-proto", target="otlp-json")
    assert_fails_at(result, r"resourceSpans\[\d+\]")


def test_protobuf_trace_id_of_15_bytes_fails_at_the_span(convert):
    request = one_span_request()
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = samples.TRACE_ID[:15]
    result = convert.run(request.SerializeToString(), source="otlp-proto", target="otlp-json")
    assert_fails_at(result, r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId")


def test_protobuf_invalid_utf8_string_fails(convert):
    data = one_span_request().SerializeToString().replace(b"\x2a\x01s", b"\x2a\x01\xff")
    result = convert.run(data, source="otlp-proto", target="otlp-json")
    assert_fails_at(result, r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.name")


def test_protobuf_any_value_nested_too_deep_fails(convert):
    value = common_pb2.AnyValue(string_value="bottom")
    # 40 levels: past Telemetry's limit of 32, within upb's own limit of 100 messages.
    for _ in range(40):
        value = common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[value]))
    request = one_span_request(attributes=[samples.kv("deep", value)])
    result = convert.run(request.SerializeToString(), source="otlp-proto", target="otlp-json")
    assert_fails_at(result, r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.attributes\[0\]")


def test_protobuf_wrong_wire_type_fails(convert):
    # resourceSpans (field 1) sent as a varint instead of a length-delimited message.
    result = convert.run(bytes([0x08, 0x01]), source="otlp-proto", target="otlp-json")
    assert_fails_at(result, r"resourceSpans")


def test_broken_json_fails_with_a_path(convert):
    text = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","name":'
    result = convert.run(text, source="otlp-json", target="otlp-proto")
    assert_fails_at(result, r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]")


def test_json_trace_id_of_31_hex_digits_fails_at_the_span(convert):
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60", "spanId": "eee19b7ec3c1b174", "name": "s"}]}]}]}
    result = convert.run(json.dumps(document).encode(), source="otlp-json", target="otlp-proto")
    assert_fails_at(result, r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId")


def test_json_that_is_not_json_fails(convert):
    result = convert.run(b"\xff\xfe not json", source="otlp-json", target="otlp-proto", kind="logs")
    assert result.returncode == 1 and result.stderr.startswith(b"causeway convert: ")


def test_zipkin_trace_id_of_31_hex_digits_fails_at_the_span(convert):
    spans = [{"traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312"},
             {"traceId": "463ac35c9f6413ad48485a3953bb612", "id": "a2fb4a1d1a96d313"}]
    result = convert.run(json.dumps(spans).encode(), source="zipkin", target="otlp-proto")
    assert_fails_at(result, r"\[1\]\.traceId")


def test_jaeger_as_input_is_refused(convert):
    result = convert.run(b"{}", source="jaeger", target="otlp-json")
    assert result.returncode != 0 and b"output format only" in result.stderr


def test_zipkin_with_logs_is_refused(convert):
    result = convert.run(b"{}", source="otlp-json", target="zipkin", kind="logs")
    assert result.returncode != 0 and b"traces only" in result.stderr


def test_all_zero_trace_id_is_refused(convert):
    # OTLP: "A valid trace identifier is a 16-byte array with at least one non-zero byte."
    request = one_span_request()
    request.resource_spans[0].scope_spans[0].spans[0].trace_id = bytes(16)
    result = convert.run(request.SerializeToString(), source="otlp-proto", target="otlp-json")
    assert_fails_at(result, r"resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId")


def test_length_past_the_end_is_refused(convert):
    # resourceSpans claims 2^31-1 bytes and one follows: no allocation of that size, an error.
    result = convert.run(bytes([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x12]), source="otlp-proto", target="otlp-json")
    assert_fails_at(result, r"resourceSpans")
