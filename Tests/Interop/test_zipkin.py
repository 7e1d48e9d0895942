"""Zipkin v2 JSON: output validates against the official API's Span definition
(shared/spec/zipkin2-api.yaml), and Zipkin input decodes to OTLP with its IDs intact."""

import json
import re

import jsonschema
import pytest
import yaml

import samples
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


@pytest.fixture(scope="module")
def zipkin_definitions(zipkin_spec_path):
    return yaml.safe_load(zipkin_spec_path.read_text())["definitions"]


def validator_for(definitions, name):
    # Swagger 2.0 schemas are JSON Schema draft 4, with `#/definitions/...` references,
    # so the definition is validated inside a document that carries all of them.
    schema = dict(definitions[name])
    schema["definitions"] = definitions
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


def endpoint_request():
    """Spans whose attributes fill Zipkin's endpoints: a client, a producer, a consumer."""
    kv = samples.kv
    string = lambda text: common_pb2.AnyValue(string_value=text)  # noqa: E731
    number = lambda value: common_pb2.AnyValue(int_value=value)  # noqa: E731
    spans = [
        trace_pb2.Span(
            trace_id=samples.TRACE_ID, span_id=bytes.fromhex("00000000000000a1"), parent_span_id=samples.SPAN_ID,
            name="GET /stock", kind=trace_pb2.Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=1_700_000_000_000_000_000, end_time_unix_nano=1_700_000_000_000_000_500,
            attributes=[kv("server.address", string("inventory.internal")), kv("server.port", number(8080)),
                        kv("network.peer.address", string("192.0.2.10")), kv("network.peer.port", number(8080))],
        ),
        trace_pb2.Span(
            trace_id=samples.TRACE_ID, span_id=bytes.fromhex("00000000000000a2"), parent_span_id=samples.SPAN_ID,
            name="send order_events", kind=trace_pb2.Span.SPAN_KIND_PRODUCER,
            start_time_unix_nano=1_700_000_000_000_001_000, end_time_unix_nano=1_700_000_000_000_002_000,
            attributes=[kv("messaging.system", string("kafka")),
                        kv("messaging.destination.name", string("order_events")),
                        kv("network.peer.address", string("2001:db8::1")), kv("network.peer.port", number(9092))],
        ),
        trace_pb2.Span(
            trace_id=samples.LINK_TRACE_ID, span_id=bytes.fromhex("00000000000000a3"),
            name="process order_events", kind=trace_pb2.Span.SPAN_KIND_CONSUMER,
            start_time_unix_nano=1_700_000_000_000_003_000, end_time_unix_nano=1_700_000_000_000_009_999,
            attributes=[kv("messaging.system", string("kafka"))],
            links=[trace_pb2.Span.Link(trace_id=samples.TRACE_ID, span_id=bytes.fromhex("00000000000000a2"))],
        ),
    ]
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(
            resource=samples.resource("order-service"),
            scope_spans=[trace_pb2.ScopeSpans(scope=samples.scope(), spans=spans)],
        )]
    )


REQUESTS = {"every field": samples.full_trace_request, "endpoints": endpoint_request}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_zipkin_output_validates_against_the_span_definition(convert, zipkin_definitions, name):
    request = REQUESTS[name]()
    spans = json.loads(convert(request.SerializeToString(), source="otlp-proto", target="zipkin"))
    assert isinstance(spans, list) and len(spans) == sum(
        len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans
    )
    validator = validator_for(zipkin_definitions, "Span")
    for index, span in enumerate(spans):
        errors = sorted(validator.iter_errors(span), key=lambda error: list(error.path))
        assert not errors, f"span {index}: " + "; ".join(
            f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors
        )
    errors = list(validator_for(zipkin_definitions, "ListOfSpans").iter_errors(spans))
    assert not errors, errors[0].message


@pytest.mark.parametrize("name", list(REQUESTS))
def test_zipkin_ids_are_exact_lowercase_hex(convert, name):
    # The spec's patterns are unanchored; DESIGN.md asks for exact lowercase hex.
    request = REQUESTS[name]()
    spans = json.loads(convert(request.SerializeToString(), source="otlp-proto", target="zipkin"))
    for span in spans:
        assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"]), span["traceId"]
        assert re.fullmatch(r"[0-9a-f]{16}", span["id"]), span["id"]
        if "parentId" in span:
            assert re.fullmatch(r"[0-9a-f]{16}", span["parentId"]), span["parentId"]


def test_zipkin_times_are_microseconds_and_duration_at_least_one(convert):
    request = endpoint_request()
    spans = json.loads(convert(request.SerializeToString(), source="otlp-proto", target="zipkin"))
    by_id = {span["id"]: span for span in spans}
    client = by_id["00000000000000a1"]
    assert client["timestamp"] == 1_700_000_000_000_000
    assert client["duration"] == 1  # 500 ns rounds to at least 1 µs
    consumer = by_id["00000000000000a3"]
    assert consumer["timestamp"] == 1_700_000_000_000_003
    assert consumer["duration"] == 6  # 6999 ns
    assert client["kind"] == "CLIENT" and consumer["kind"] == "CONSUMER"
    assert client["localEndpoint"]["serviceName"] == "order-service"


def test_zipkin_round_trip_keeps_ids_parents_names_and_times(convert):
    original = endpoint_request()
    zipkin = convert(original.SerializeToString(), source="otlp-proto", target="zipkin")
    back = trace_service_pb2.ExportTraceServiceRequest.FromString(convert(zipkin, source="zipkin", target="otlp-proto"))
    got = {span.span_id: span for rs in back.resource_spans for ss in rs.scope_spans for span in ss.spans}
    for span in original.resource_spans[0].scope_spans[0].spans:
        assert span.span_id in got, f"span {span.span_id.hex()} lost"
        decoded = got[span.span_id]
        assert decoded.trace_id == span.trace_id
        assert decoded.parent_span_id == span.parent_span_id
        assert decoded.name == span.name
        assert decoded.kind == span.kind
        assert decoded.start_time_unix_nano == span.start_time_unix_nano // 1000 * 1000
    consumer = got[bytes.fromhex("00000000000000a3")]
    assert [(link.trace_id, link.span_id) for link in consumer.links] == [(samples.TRACE_ID, bytes.fromhex("00000000000000a2"))]


def test_zipkin_spans_from_a_tracer_decode_to_otlp(convert):
    # What a Zipkin tracer (Brave, zipkin-go) posts to /api/v2/spans, 64-bit trace ID included.
    spans = [
        {
            "traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "a2fb4a1d1a96d312", "parentId": "0020000000000001",
            "name": "get /api", "kind": "SERVER", "timestamp": 1502787600000000, "duration": 207000,
            "localEndpoint": {"serviceName": "frontend", "ipv4": "127.0.0.1", "port": 8080},
            "remoteEndpoint": {"ipv6": "::1"},
            "annotations": [{"timestamp": 1502787600100000, "value": "wr"}],
            "tags": {"http.method": "GET", "http.path": "/api"},
            "shared": True,
        },
        {"traceId": "48485a3953bb6124", "id": "0000000000000001", "name": "local", "timestamp": 1, "duration": 1},
    ]
    output = convert(json.dumps(spans).encode(), source="zipkin", target="otlp-proto")
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(output)
    got = {span.span_id.hex(): (span, rs) for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}
    server, resource_spans = got["a2fb4a1d1a96d312"]
    assert server.trace_id.hex() == "463ac35c9f6413ad48485a3953bb6124"
    assert server.parent_span_id.hex() == "0020000000000001"
    assert server.kind == trace_pb2.Span.SPAN_KIND_SERVER
    assert server.start_time_unix_nano == 1502787600000000 * 1000
    assert server.end_time_unix_nano == (1502787600000000 + 207000) * 1000
    assert [(event.time_unix_nano, event.name) for event in server.events] == [(1502787600100000 * 1000, "wr")]
    attributes = {kv.key: kv.value.string_value for kv in server.attributes}
    assert attributes.get("http.method") == "GET" and attributes.get("http.path") == "/api"
    service = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
    assert service.get("service.name") == "frontend"
    local, _ = got["0000000000000001"]
    # A 64-bit Zipkin trace ID is the low half of the 128-bit OTLP one.
    assert local.trace_id.hex() == "000000000000000048485a3953bb6124"
