"""Jaeger UI JSON: the shape `GET /api/traces/{id}` returns and Jaeger's UI loads from a file."""

import json

import samples
from test_zipkin import endpoint_request


def test_jaeger_output_has_the_query_api_shape(convert):
    request = samples.full_trace_request()
    document = json.loads(convert(request.SerializeToString(), source="otlp-proto", target="jaeger"))
    assert isinstance(document["data"], list) and document["data"]
    trace_ids = {span.trace_id.hex() for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans}
    assert {trace["traceID"] for trace in document["data"]} == trace_ids
    for trace in document["data"]:
        assert isinstance(trace["spans"], list) and trace["spans"]
        assert isinstance(trace["processes"], dict) and trace["processes"]
        for span in trace["spans"]:
            assert span["traceID"] == trace["traceID"]
            assert len(span["spanID"]) == 16
            assert span["processID"] in trace["processes"], f"{span['processID']} has no process"
            assert isinstance(span["startTime"], int) and isinstance(span["duration"], int)
            for tag in span["tags"]:
                assert set(tag) >= {"key", "type", "value"}
                assert tag["type"] in {"string", "bool", "int64", "float64", "binary"}
            for log in span["logs"]:
                assert isinstance(log["timestamp"], int) and isinstance(log["fields"], list)
        for process in trace["processes"].values():
            assert "serviceName" in process and isinstance(process["tags"], list)


def test_jaeger_parent_is_child_of_and_links_are_follows_from(convert):
    request = samples.full_trace_request()
    document = json.loads(convert(request.SerializeToString(), source="otlp-proto", target="jaeger"))
    spans = {span["spanID"]: span for trace in document["data"] for span in trace["spans"]}
    full = samples.full_span()
    references = spans[full.span_id.hex()]["references"]
    assert references[0] == {"refType": "CHILD_OF", "traceID": full.trace_id.hex(), "spanID": full.parent_span_id.hex()}
    follows = [(ref["traceID"], ref["spanID"]) for ref in references if ref["refType"] == "FOLLOWS_FROM"]
    assert follows == [(link.trace_id.hex(), link.span_id.hex()) for link in full.links]
    root = spans[samples.plain_spans()[0].span_id.hex()]
    assert root["references"] == []


def test_jaeger_times_are_microseconds(convert):
    request = endpoint_request()
    document = json.loads(convert(request.SerializeToString(), source="otlp-proto", target="jaeger"))
    spans = {span["spanID"]: span for trace in document["data"] for span in trace["spans"]}
    consumer = spans["00000000000000a3"]
    assert consumer["startTime"] == 1_700_000_000_000_003
    assert consumer["duration"] == 6
    assert any(p["serviceName"] == "order-service" for trace in document["data"] for p in trace["processes"].values())
