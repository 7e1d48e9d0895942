"""OTLP protobuf: what the official package builds, causeway decodes and re-encodes unchanged."""

import pytest

import samples
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


@pytest.mark.parametrize("kind", list(samples.KINDS))
def test_protobuf_round_trip_keeps_every_field(convert, kind):
    message_class, build = samples.KINDS[kind]
    original = build()
    output = convert(original.SerializeToString(), source="otlp-proto", target="otlp-proto", kind=kind)
    parsed = message_class.FromString(output)
    samples.assert_same_meaning(original, parsed)


def test_protobuf_round_trip_keeps_absent_resource_and_scope(convert):
    original = samples.full_trace_request()
    parsed = trace_service_pb2.ExportTraceServiceRequest.FromString(
        convert(original.SerializeToString(), source="otlp-proto", target="otlp-proto")
    )
    assert not parsed.resource_spans[1].HasField("resource")
    assert not parsed.resource_spans[1].scope_spans[0].HasField("scope")
    assert parsed.resource_spans[0].HasField("resource")


def test_protobuf_empty_request_round_trips(convert):
    output = convert(b"", source="otlp-proto", target="otlp-proto")
    assert trace_service_pb2.ExportTraceServiceRequest.FromString(output) == trace_service_pb2.ExportTraceServiceRequest()


def test_protobuf_unknown_fields_are_skipped(convert):
    # A span from a newer SDK: an unknown varint (field 99), an unknown length-delimited
    # field (100) and an unknown fixed32 (101) appended to the span's own bytes.
    span = samples.full_span()
    unknown = bytes([0x98, 0x06, 0x2A]) + bytes([0xA2, 0x06, 0x03]) + b"new" + bytes([0xAD, 0x06, 1, 2, 3, 4])
    span_bytes = span.SerializeToString() + unknown
    # Rebuild the request by hand around the extended span: ResourceSpans(2) > ScopeSpans(2) > Span(2).
    def field(number, payload):
        return _varint(number << 3 | 2) + _varint(len(payload)) + payload

    request = field(1, field(2, field(2, span_bytes)))
    parsed = trace_service_pb2.ExportTraceServiceRequest.FromString(
        convert(request, source="otlp-proto", target="otlp-proto")
    )
    expected = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )
    samples.assert_same_meaning(expected, parsed)


def test_protobuf_fields_repeated_out_of_order_are_merged_like_upb(convert):
    # Protobuf lets a sender split a message: the last scalar wins, repeated fields append.
    span = samples.plain_spans()[0]
    first = trace_pb2.Span(name="first", attributes=span.attributes)
    second = trace_pb2.Span(
        trace_id=span.trace_id, span_id=span.span_id, name="second", start_time_unix_nano=5, end_time_unix_nano=6,
        attributes=[samples.kv("more", samples.common_pb2.AnyValue(bool_value=True))],
    )
    span_bytes = second.SerializeToString() + first.SerializeToString()

    def field(number, payload):
        return _varint(number << 3 | 2) + _varint(len(payload)) + payload

    request = field(1, field(2, field(2, span_bytes)))
    reference = trace_service_pb2.ExportTraceServiceRequest.FromString(request)
    parsed = trace_service_pb2.ExportTraceServiceRequest.FromString(
        convert(request, source="otlp-proto", target="otlp-proto")
    )
    samples.assert_same_meaning(reference, parsed)


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def test_protobuf_empty_submessages_keep_their_meaning(convert):
    # A KeyValue whose value is an AnyValue with nothing set, and a Span whose status is
    # present but UNSET. OTLP gives an empty message and an absent one the same meaning,
    # and the model does not track presence, so the round trip keeps the meaning (no
    # value, UNSET status, the attribute itself) rather than the two empty fields.
    span = trace_pb2.Span(
        trace_id=samples.TRACE_ID, span_id=samples.SPAN_ID, name="empty parts",
        attributes=[samples.kv("empty", samples.common_pb2.AnyValue())],
        status=trace_pb2.Status(),
    )
    original = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[span])])]
    )
    output = convert(original.SerializeToString(), source="otlp-proto", target="otlp-proto")
    parsed = trace_service_pb2.ExportTraceServiceRequest.FromString(output).resource_spans[0].scope_spans[0].spans[0]
    assert parsed.attributes[0].key == "empty"
    assert parsed.attributes[0].value.WhichOneof("value") is None
    assert parsed.status.code == trace_pb2.Status.STATUS_CODE_UNSET and parsed.status.message == ""
