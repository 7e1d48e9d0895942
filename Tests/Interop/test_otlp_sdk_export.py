"""Spans exported by Causeway's SDK (EventTracingOTLP) arrive intact in OpenTelemetry's decoder.

`causeway debug emit-span` builds the SDK's tracer, records a parent and a child span with
every kind of field and exports them over OTLP/HTTP to a sink in this process; the sink
decodes the body with `opentelemetry-proto` (protobuf's own JSON parser for http/json) and
the test checks every field against what the command says it made.

OTLP spec: https://opentelemetry.io/docs/specs/otlp/ ("OTLP/HTTP", "JSON Protobuf Encoding").
"""

import base64
import gzip
import http.server
import json
import subprocess
import threading

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

LINKED_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
LINKED_SPAN_ID = "00f067aa0ba902b7"
LINKED_TRACE_STATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"

# trace.proto, SpanFlags: bit 8 says whether bit 9 (the parent or link is remote) is known.
HAS_IS_REMOTE = 0x100
IS_REMOTE = 0x200


class Sink(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP receiver that keeps every request it gets."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.requests = []

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class SinkHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.requests.append((self.path, dict(self.headers.items()), body))
        # OTLP/HTTP "Success": 200 with an ExportTraceServiceResponse in the request's encoding.
        if self.headers.get("Content-Type", "").startswith("application/json"):
            answer, content_type = b"{}", "application/json"
        else:
            answer, content_type = ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def sink():
    server = Sink()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def hex_ids_to_base64(node):
    """OTLP JSON writes trace and span IDs as hex ("JSON Protobuf Encoding"), where
    protobuf's JSON mapping wants base64: rewrite them so json_format can parse the body."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for element in node:
            hex_ids_to_base64(element)


def json_ids(node, found):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("traceId", "spanId", "parentSpanId"):
                found.append(value)
            else:
                json_ids(value, found)
    elif isinstance(node, list):
        for element in node:
            json_ids(element, found)
    return found


def emit(causeway, sink, wire_protocol, compression="none"):
    completed = subprocess.run(
        [
            str(causeway), "debug", "emit-span",
            "--endpoint", sink.endpoint,
            "--protocol", wire_protocol,
            "--compression", compression,
        ],
        capture_output=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    made = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    assert sink.requests, "the SDK exported nothing"
    assert len(sink.requests) == 1, f"expected one export, got {len(sink.requests)}"
    path, headers, body = sink.requests[0]
    assert path == "/v1/traces"
    headers = {name.lower(): value for name, value in headers.items()}
    if compression == "gzip":
        assert headers.get("content-encoding") == "gzip"
        body = gzip.decompress(body)
    else:
        assert "content-encoding" not in headers
    request = ExportTraceServiceRequest()
    if wire_protocol == "http/json":
        assert headers["content-type"].startswith("application/json")
        document = json.loads(body)
        # "JSON Protobuf Encoding": IDs are hex strings, case-insensitive on input; we send lowercase.
        for value in json_ids(document, []):
            assert value == value.lower() and all(c in "0123456789abcdef" for c in value), value
        # "JSON Protobuf Encoding": enums are integers; 64-bit integers follow protobuf's
        # JSON mapping, decimal strings, so that no reader rounds them through a double.
        for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            assert type(span["kind"]) is int
            assert isinstance(span["startTimeUnixNano"], str) and isinstance(span["endTimeUnixNano"], str)
            if "status" in span and "code" in span["status"]:
                assert type(span["status"]["code"]) is int
            for attribute in span["attributes"]:
                if "intValue" in attribute["value"]:
                    assert isinstance(attribute["value"]["intValue"], str), attribute
        hex_ids_to_base64(document)
        json_format.ParseDict(document, request)
    else:
        assert headers["content-type"] == "application/x-protobuf"
        request.ParseFromString(body)
    return made, request


def attributes(key_values):
    """Attributes as {key: (type, value)} so that the type is checked too."""
    result = {}
    for key_value in key_values:
        value = key_value.value
        kind = value.WhichOneof("value")
        if kind == "array_value":
            result[key_value.key] = (
                "array",
                [(element.WhichOneof("value"), getattr(element, element.WhichOneof("value"))) for element in value.array_value.values],
            )
        else:
            result[key_value.key] = (kind, getattr(value, kind))
    return result


def check_request(made, request):
    for identifier in made.values():
        assert identifier == identifier.lower()
    assert made["child_trace_id"] == made["trace_id"]

    assert len(request.resource_spans) == 1
    resource_spans = request.resource_spans[0]
    resource = attributes(resource_spans.resource.attributes)
    assert resource["service.name"] == ("string_value", "causeway-interop")
    assert resource["service.version"] == ("string_value", "1.2.3")
    assert resource["telemetry.sdk.language"] == ("string_value", "swift")
    assert resource["telemetry.sdk.name"] == ("string_value", "causeway")
    assert resource["process.pid"][0] == "int_value"

    assert len(resource_spans.scope_spans) == 1
    scope_spans = resource_spans.scope_spans[0]
    assert scope_spans.scope.name == "causeway.event-tracing"
    assert scope_spans.scope.version

    spans = {span.name: span for span in scope_spans.spans}
    assert set(spans) == {"process orders", "charge card"}
    parent, child = spans["process orders"], spans["charge card"]

    # IDs: one trace, the child under the parent, the parent a root.
    assert parent.trace_id.hex() == made["trace_id"]
    assert child.trace_id.hex() == made["trace_id"]
    assert parent.span_id.hex() == made["parent_span_id"]
    assert child.span_id.hex() == made["child_span_id"]
    assert len(parent.trace_id) == 16 and len(parent.span_id) == 8
    assert parent.parent_span_id == b""
    assert child.parent_span_id == parent.span_id
    assert parent.span_id != child.span_id

    # Flags: sampled and, for a new trace, the W3C Level 2 random flag; remoteness known.
    for span in (parent, child):
        assert span.flags & 0xFF == 0x03
        assert span.flags & HAS_IS_REMOTE and not span.flags & IS_REMOTE
        assert 0 < span.start_time_unix_nano <= span.end_time_unix_nano
        assert span.dropped_attributes_count == 0
        assert span.dropped_events_count == 0
        assert span.dropped_links_count == 0
    assert parent.start_time_unix_nano <= child.start_time_unix_nano
    assert child.end_time_unix_nano <= parent.end_time_unix_nano

    assert parent.kind == Span.SPAN_KIND_CONSUMER
    assert child.kind == Span.SPAN_KIND_CLIENT

    assert attributes(parent.attributes) == {
        "messaging.system": ("string_value", "kafka"),
        "messaging.batch.message_count": ("int_value", 3),
    }
    assert attributes(child.attributes) == {
        "string.attr": ("string_value", "caf\u00e9 \u2615"),
        # Beyond 2^53: an int64 that a double (or a JSON number) would round.
        "int.attr": ("int_value", -9007199254740993),
        "double.attr": ("double_value", 2.5),
        "bool.attr": ("bool_value", True),
        "string_array.attr": ("array", [("string_value", "a"), ("string_value", "b")]),
        "int_array.attr": ("array", [("int_value", 1), ("int_value", -2), ("int_value", 3)]),
        "double_array.attr": ("array", [("double_value", 0.5), ("double_value", -1.25)]),
        "bool_array.attr": ("array", [("bool_value", True), ("bool_value", False)]),
    }

    # Events: the one added, then the exception recorded by recordError.
    assert [event.name for event in child.events] == ["card.checked", "exception"]
    checked, exception = child.events
    assert attributes(checked.attributes) == {
        "card.brand": ("string_value", "visa"),
        "attempt": ("int_value", 2),
    }
    recorded = attributes(exception.attributes)
    assert recorded["exception.type"][0] == "string_value"
    assert recorded["exception.type"][1].endswith("PaymentDeclined")
    assert recorded["exception.message"] == ("string_value", "card declined: insufficient funds")
    for event in child.events:
        assert child.start_time_unix_nano <= event.time_unix_nano <= child.end_time_unix_nano
        assert event.dropped_attributes_count == 0
    assert not parent.events

    # The link: the message's remote context, with its trace state and attributes.
    assert len(parent.links) == 1
    link = parent.links[0]
    assert link.trace_id.hex() == LINKED_TRACE_ID
    assert link.span_id.hex() == LINKED_SPAN_ID
    assert link.trace_state == LINKED_TRACE_STATE
    assert attributes(link.attributes) == {"link.reason": ("string_value", "message creation")}
    assert link.flags == 0x01 | HAS_IS_REMOTE | IS_REMOTE
    assert not child.links

    assert child.status.code == Status.STATUS_CODE_ERROR
    assert child.status.message == "payment failed"
    assert parent.status.code == Status.STATUS_CODE_UNSET


@pytest.mark.parametrize(
    "wire_protocol, compression",
    [("http/protobuf", "none"), ("http/protobuf", "gzip"), ("http/json", "none"), ("http/json", "gzip")],
)
def test_exported_spans_arrive_with_every_field_intact(causeway, sink, wire_protocol, compression):
    made, request = emit(causeway, sink, wire_protocol, compression)
    check_request(made, request)
