"""The collector receives spans and logs from real third-party clients and gives them back.

- The OpenTelemetry Python SDK with `opentelemetry-exporter-otlp-proto-http` (protobuf,
  gzip) sends a producer span, a consumer span in another trace linked to it, and logs
  carrying the correlation ID; the query API returns each span exactly as the SDK encoded
  it (`?format=otlp`, compared as protobuf messages), the link, the backlink and the logs
  by correlation ID.
- The same through an OTLP JSON request written by protobuf's `json_format`.
- `py_zipkin` sends a trace to the Zipkin receiver; the query API returns it.
- The OTLP/HTTP rules (https://opentelemetry.io/docs/specs/otlp/#otlphttp) seen from
  `requests`: 405, 415, 400 with a google.rpc.Status, 413 for a gzip bomb, empty request.
"""

import base64
import gzip
import json
import os
import pathlib
import re
import signal
import subprocess
import time
import uuid

import pytest
import requests
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as ResourceProto
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry._logs import SeverityNumber
from py_zipkin import Encoding, Kind
from py_zipkin.transport import BaseTransportHandler
from py_zipkin.zipkin import zipkin_span
from samples import without_empty_presence

LISTENING = re.compile(r"listening otlp=127\.0\.0\.1:(\d+) zipkin=127\.0\.0\.1:(\d+) http=127\.0\.0\.1:(\d+)")


# OTLP JSON writes these as hex; protobuf's json_format expects base64 for bytes.
ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def parse_otlp_json(text, message):
    def convert(value):
        if isinstance(value, dict):
            return {
                key: base64.b64encode(bytes.fromhex(item)).decode() if key in ID_KEYS and isinstance(item, str) else convert(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [convert(item) for item in value]
        return value

    return json_format.ParseDict(convert(json.loads(text)), message)


class Collector:
    """`causeway collector` on free ports with its data in a temporary folder."""

    def __init__(self, binary, data_dir, *extra):
        self.process = subprocess.Popen(
            [str(binary), "collector", "--data-dir", str(data_dir), "--otlp-port", "0", "--zipkin-port", "0", "--http-port", "0", *extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            match = LISTENING.search(line)
            if match:
                self.otlp, self.zipkin, self.http = (f"http://127.0.0.1:{port}" for port in match.groups())
                return
        self.process.kill()
        raise AssertionError(f"collector did not report its ports: {self.process.stderr.read()}")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def get(self, path, **params):
        return requests.get(self.http + path, params=params, timeout=30)

    def wait_for(self, probe, what):
        """The store is written asynchronously: ask again until `probe` gives a value."""
        for _ in range(400):
            value = probe()
            if value:
                return value
            time.sleep(0.025)
        raise AssertionError(f"never saw {what}")

    def otlp_trace(self, trace_id_hex):
        reply = self.get(f"/api/traces/{trace_id_hex}", format="otlp")
        if reply.status_code != 200:
            return None
        return parse_otlp_json(reply.text, ExportTraceServiceRequest())

    def otlp_logs(self, **params):
        reply = self.get("/api/logs", **params)
        assert reply.status_code == 200, reply.text
        return parse_otlp_json(reply.text, ExportLogsServiceRequest())


@pytest.fixture
def collector(causeway, tmp_path):
    running = Collector(causeway, tmp_path / "data")
    yield running
    assert running.stop() == 0


def spans_by_id(request):
    """{span_id: (resource, scope, span)} of an ExportTraceServiceRequest."""
    found = {}
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                found[span.span_id] = tuple(map(without_empty_presence, (resource_spans.resource, scope_spans.scope, span)))
    return found


def log_records(request):
    return [
        tuple(map(without_empty_presence, (resource_logs.resource, scope_logs.scope, record)))
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    ]


def check_stored_exactly(collector, sent):
    """Every span sent comes back from the query API as it was sent, resource and scope included."""
    sent_spans = spans_by_id(sent)
    trace_ids = {span.trace_id.hex() for _, _, span in sent_spans.values()}
    stored = {}
    for trace_id in trace_ids:
        request = collector.wait_for(lambda: collector.otlp_trace(trace_id), f"trace {trace_id}")
        stored.update(spans_by_id(request))
    assert set(stored) == set(sent_spans)
    for span_id, expected in sent_spans.items():
        assert stored[span_id] == expected


def check_link_backlink_and_logs(collector, producer, consumer, correlation_id, expected_logs):
    # The link, as Jaeger's JSON shows it.
    jaeger = collector.get(f"/api/traces/{consumer.trace_id.hex()}").json()
    (jaeger_trace,) = jaeger["data"]
    (jaeger_span,) = jaeger_trace["spans"]
    assert {"refType": "FOLLOWS_FROM", "traceID": producer.trace_id.hex(), "spanID": producer.span_id.hex()} in jaeger_span["references"]
    # The backlink: who links to the producer.
    backlinks = collector.get(f"/api/spans/{producer.trace_id.hex()}/{producer.span_id.hex()}/backlinks").json()
    assert [(b["traceID"], b["spanID"]) for b in backlinks["data"]] == [(consumer.trace_id.hex(), consumer.span_id.hex())]
    # The logs by correlation ID, every field kept.
    logs = collector.wait_for(
        lambda: (lambda got: got if len(log_records(got)) >= len(expected_logs) else None)(collector.otlp_logs(correlation_id=correlation_id)),
        "the logs",
    )
    assert sorted(map(repr, log_records(logs))) == sorted(map(repr, expected_logs))
    # The Jaeger search finds both services.
    services = collector.get("/api/services").json()["data"]
    assert {"order-service", "inventory-service"} <= set(services)


def test_sdk_protobuf_gzip_spans_links_and_logs_come_back_whole(collector):
    correlation_id = f"order-{uuid.uuid4()}"
    memory = InMemorySpanExporter()
    providers = []
    for service in ("order-service", "inventory-service"):
        provider = TracerProvider(resource=Resource.create({"service.name": service, "deployment.environment": "test"}))
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.otlp + "/v1/traces", compression=Compression.Gzip)))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        providers.append(provider)
    log_memory = InMemoryLogRecordExporter()
    log_provider = LoggerProvider(resource=Resource.create({"service.name": "order-service"}))
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=collector.otlp + "/v1/logs", compression=Compression.Gzip)))
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(log_memory))
    logger = log_provider.get_logger("orders", "1.0")

    producer_tracer = providers[0].get_tracer("orders", "1.0")
    consumer_tracer = providers[1].get_tracer("inventory", "2.0")
    with producer_tracer.start_as_current_span(
        "send order_events",
        kind=trace.SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": "order_events", "messaging.message.conversation_id": correlation_id},
    ) as producer:
        producer.add_event("message sent", {"messaging.kafka.offset": 7})
        logger.emit(
            body="order accepted",
            severity_number=SeverityNumber.INFO,
            severity_text="INFO",
            attributes={"correlation.id": correlation_id, "order.id": 42},
        )
    producer_context = producer.get_span_context()
    with consumer_tracer.start_as_current_span(
        "process order_events",
        context=otel_context.Context(),
        kind=trace.SpanKind.CONSUMER,
        links=[trace.Link(producer_context, {"messaging.operation.type": "process"})],
        attributes={"messaging.system": "kafka", "correlation.id": correlation_id},
    ) as consumer:
        consumer.set_status(trace.Status(trace.StatusCode.ERROR, "payment declined"))
        logger.emit(body="payment declined", severity_number=SeverityNumber.ERROR, severity_text="ERROR", attributes={"correlation_id": correlation_id})
    for provider in providers:
        provider.shutdown()
    log_provider.shutdown()

    sent = encode_spans(memory.get_finished_spans())
    check_stored_exactly(collector, sent)
    stored = spans_by_id(collector.otlp_trace(format(consumer.get_span_context().trace_id, "032x")))
    (_, _, consumer_span) = stored[consumer.get_span_context().span_id.to_bytes(8, "big")]
    assert consumer_span.links[0].trace_id == producer_context.trace_id.to_bytes(16, "big")
    assert consumer_span.links[0].span_id == producer_context.span_id.to_bytes(8, "big")
    producer_span = spans_by_id(sent)[producer_context.span_id.to_bytes(8, "big")][2]
    check_link_backlink_and_logs(collector, producer_span, consumer_span, correlation_id, log_records(encode_logs(log_memory.get_finished_logs())))


def attribute(key, value):
    return KeyValue(key=key, value=AnyValue(string_value=value) if isinstance(value, str) else AnyValue(int_value=value))


def test_otlp_json_from_json_format_comes_back_whole(collector):
    correlation_id = f"order-{uuid.uuid4()}"
    producer = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        trace_state="congo=t61rcWkgMzE",
        name="send order_events",
        kind=Span.SPAN_KIND_PRODUCER,
        start_time_unix_nano=1_700_000_000_000_000_000,
        end_time_unix_nano=1_700_000_000_002_000_000,
        attributes=[attribute("messaging.message.conversation_id", correlation_id), attribute("messaging.kafka.offset", 7)],
        events=[Span.Event(time_unix_nano=1_700_000_000_001_000_000, name="sent", attributes=[attribute("bytes", 42)])],
        status=Status(code=Status.STATUS_CODE_OK),
        flags=0x301,
    )
    consumer = Span(
        trace_id=os.urandom(16),
        span_id=os.urandom(8),
        name="process order_events",
        kind=Span.SPAN_KIND_CONSUMER,
        start_time_unix_nano=1_700_000_000_010_000_000,
        end_time_unix_nano=1_700_000_000_060_000_000,
        attributes=[attribute("correlation.id", correlation_id)],
        links=[Span.Link(trace_id=producer.trace_id, span_id=producer.span_id, attributes=[attribute("link.kind", "message")], flags=0x300)],
        status=Status(code=Status.STATUS_CODE_ERROR, message="payment declined"),
        dropped_attributes_count=2,
    )
    request = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=ResourceProto(attributes=[attribute("service.name", "order-service")]),
                scope_spans=[ScopeSpans(spans=[producer])],
            ),
            ResourceSpans(
                resource=ResourceProto(attributes=[attribute("service.name", "inventory-service")]),
                scope_spans=[ScopeSpans(spans=[consumer])],
                schema_url="https://opentelemetry.io/schemas/1.26.0",
            ),
        ]
    )
    reply = requests.post(
        collector.otlp + "/v1/traces", data=json_format.MessageToJson(request), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "application/json"
    logs = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=ResourceProto(attributes=[attribute("service.name", "order-service"), attribute("correlation_id", correlation_id)]),
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            LogRecord(
                                time_unix_nano=1_700_000_000_000_500_000,
                                severity_number=9,
                                severity_text="INFO",
                                body=AnyValue(string_value="order accepted"),
                                trace_id=producer.trace_id,
                                span_id=producer.span_id,
                            )
                        ]
                    )
                ],
            )
        ]
    )
    reply = requests.post(collector.otlp + "/v1/logs", data=json_format.MessageToJson(logs), headers={"Content-Type": "application/json"}, timeout=30)
    assert reply.status_code == 200, reply.text
    check_stored_exactly(collector, request)
    check_link_backlink_and_logs(collector, producer, consumer, correlation_id, log_records(logs))
    by_trace = collector.otlp_logs(trace_id=producer.trace_id.hex())
    assert len(log_records(by_trace)) == 1


class ZipkinHTTPTransport(BaseTransportHandler):
    def __init__(self, url):
        self.url = url

    def get_max_payload_bytes(self):
        return None

    def send(self, payload):
        reply = requests.post(self.url, data=payload, headers={"Content-Type": "application/json"}, timeout=30)
        assert reply.status_code == 202, reply.text


def test_py_zipkin_trace_is_queryable(collector):
    transport = ZipkinHTTPTransport(collector.zipkin + "/api/v2/spans")
    with zipkin_span(
        service_name="zipkin-frontend", span_name="get /orders", transport_handler=transport, sample_rate=100.0, encoding=Encoding.V2_JSON, kind=Kind.SERVER
    ) as root:
        root.update_binary_annotations({"http.method": "GET"})
        with zipkin_span(service_name="zipkin-frontend", span_name="load order", kind=Kind.LOCAL):
            pass
        trace_id = root.zipkin_attrs.trace_id

    traces = collector.wait_for(
        lambda: (lambda data: data or None)(collector.get("/api/traces", service="zipkin-frontend").json()["data"]), "the zipkin trace"
    )
    (found,) = traces
    assert found["traceID"] == trace_id.rjust(32, "0")
    names = sorted(span["operationName"] for span in found["spans"])
    assert names == ["get /orders", "load order"]
    root_span = next(span for span in found["spans"] if span["operationName"] == "get /orders")
    assert {"key": "http.method", "type": "string", "value": "GET"} in root_span["tags"]
    operations = collector.get("/api/services/zipkin-frontend/operations").json()["data"]
    assert sorted(operations) == ["get /orders", "load order"]


PROTOBUF = {"Content-Type": "application/x-protobuf"}


def test_otlp_http_rules(collector):
    traces = collector.otlp + "/v1/traces"
    reply = requests.get(traces, headers=PROTOBUF, timeout=30)
    assert reply.status_code == 405 and reply.headers["Allow"] == "POST"

    reply = requests.post(traces, data=b"<xml/>", headers={"Content-Type": "application/xml"}, timeout=30)
    assert reply.status_code == 415

    reply = requests.post(traces, data=b"\x0a\x05\x01", headers=PROTOBUF, timeout=30)
    assert reply.status_code == 400
    status = status_pb2.Status.FromString(reply.content)
    assert status.code == 3 and "ExportTraceServiceRequest" in status.message

    bomb = gzip.compress(b"\0" * (64 << 20))
    reply = requests.post(traces, data=bomb, headers={**PROTOBUF, "Content-Encoding": "gzip"}, timeout=60)
    assert reply.status_code == 413
    assert "after decompression" in status_pb2.Status.FromString(reply.content).message

    reply = requests.post(traces, data=b"", headers=PROTOBUF, timeout=30)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/x-protobuf"

    broken = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[Span(trace_id=os.urandom(16), span_id=os.urandom(8), name="x", start_time_unix_nano=2, end_time_unix_nano=1)])])]
    )
    reply = requests.post(traces, data=broken.SerializeToString(), headers=PROTOBUF, timeout=30)
    assert reply.status_code == 200
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    assert ExportTraceServiceResponse.FromString(reply.content).partial_success.rejected_spans == 1

    assert collector.get("/api/traces", service="x", minDuration="soon").status_code == 400
    assert "'minDuration'" in collector.get("/api/traces", service="x", minDuration="soon").json()["errors"][0]["msg"]
    assert collector.get("/healthz").status_code == 200
    assert "causeway_receiver_accepted_spans_total" in collector.get("/metrics").text


def test_bad_configuration_names_the_key_and_line(causeway, tmp_path):
    config = tmp_path / "collector.yaml"
    config.write_text("receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:0\n        max_body: 1\n")
    result = subprocess.run([str(causeway), "collector", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "line 6: receivers.otlp.protocols.http.max_body: unknown key" in result.stderr


def test_shipped_configuration_starts_and_flags_win(causeway, tmp_path):
    config = pathlib.Path(__file__).resolve().parents[2] / "config" / "collector.yaml"
    running = Collector(causeway, tmp_path / "data", "--config", str(config))
    try:
        assert requests.get(running.http + "/readyz", timeout=30).status_code == 200
    finally:
        assert running.stop() == 0
    assert (tmp_path / "data" / "collector" / "store.sqlite").is_file()

