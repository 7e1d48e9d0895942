"""The collector forwards what it accepted to Jaeger (OTLP/HTTP) and Zipkin, and loses none
of it when the backend is down or the collector restarts.

Two Python sinks play the backends: one decodes OTLP/HTTP with `opentelemetry-proto`
(playing Jaeger or any OTLP backend), the other validates every Zipkin span against the
`Span` definition of `../shared/spec/zipkin2-api.yaml` (playing Zipkin).
"""

import gzip
import http.server
import json
import os
import threading
import time

import pytest
import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from samples import without_empty_presence
from test_collector_ingest import Collector, log_records, spans_by_id
from test_zipkin import validator_for, zipkin_definitions  # noqa: F401 (fixture)


class Sink:
    """A backend on a free port that records every POST and answers with the scripted
    statuses first (then 200 for OTLP, 202 for Zipkin)."""

    def __init__(self, port=0, statuses=()):
        self.requests = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.lock:
                    scripted = sink.statuses.pop(0) if sink.statuses else None
                    if scripted is None:
                        sink.requests.append((self.path, dict(self.headers), body))
                status = scripted or (202 if self.path == "/api/v2/spans" else 200)
                self.send_response(status)
                if scripted:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def received(self, path):
        with self.lock:
            return [(headers, body) for (p, headers, body) in self.requests if p == path]

    def wait_for(self, path, count=1, seconds=30):
        for _ in range(int(seconds / 0.05)):
            got = self.received(path)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"the sink never received {count} POST {path}; got {[p for p, _, _ in self.requests]}")


def body_of(headers, body):
    if headers.get("Content-Encoding") == "gzip":
        return gzip.decompress(body)
    return body


def attribute(key, value):
    return KeyValue(key=key, value=AnyValue(string_value=value))


def producer_and_consumer():
    """A producer span and, in another trace, a consumer span linked to it, with one log."""
    producer = Span(
        trace_id=os.urandom(16), span_id=os.urandom(8), name="send orders", kind=Span.SPAN_KIND_PRODUCER,
        start_time_unix_nano=1_764_000_000_000_000_000, end_time_unix_nano=1_764_000_000_002_000_000,
        attributes=[attribute("messaging.destination.name", "orders"), attribute("messaging.message.conversation_id", "c-42")],
    )
    consumer = Span(
        trace_id=os.urandom(16), span_id=os.urandom(8), name="process orders", kind=Span.SPAN_KIND_CONSUMER,
        start_time_unix_nano=1_764_000_000_005_000_000, end_time_unix_nano=1_764_000_000_009_000_000,
        links=[Span.Link(trace_id=producer.trace_id, span_id=producer.span_id)],
        attributes=[attribute("messaging.destination.name", "orders")],
    )
    traces = ExportTraceServiceRequest(resource_spans=[
        ResourceSpans(resource=Resource(attributes=[attribute("service.name", "order-service")]),
                      scope_spans=[ScopeSpans(spans=[producer])]),
        ResourceSpans(resource=Resource(attributes=[attribute("service.name", "inventory-service")]),
                      scope_spans=[ScopeSpans(spans=[consumer])]),
    ])
    logs = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
        resource=Resource(attributes=[attribute("service.name", "inventory-service")]),
        scope_logs=[ScopeLogs(log_records=[LogRecord(
            time_unix_nano=1_764_000_000_006_000_000, severity_number=9, severity_text="INFO",
            body=AnyValue(string_value="stock reserved"), trace_id=consumer.trace_id, span_id=consumer.span_id,
            attributes=[attribute("correlation_id", "c-42")],
        )])],
    )])
    return traces, logs


def send(collector, traces, logs):
    for path, message in (("/v1/traces", traces), ("/v1/logs", logs)):
        reply = requests.post(collector.otlp + path, data=message.SerializeToString(),
                              headers={"Content-Type": "application/x-protobuf"}, timeout=30)
        assert reply.status_code == 200, reply.text


def check_otlp_delivery(sink, traces, logs, seconds=30):
    (headers, body), = sink.wait_for("/v1/traces", seconds=seconds)
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers.get("Content-Encoding") == "gzip"  # the exporter's default
    exported = ExportTraceServiceRequest.FromString(body_of(headers, body))
    assert spans_by_id(exported) == spans_by_id(traces)
    (headers, body), = sink.wait_for("/v1/logs", seconds=seconds)
    exported_logs = ExportLogsServiceRequest.FromString(body_of(headers, body))
    assert log_records(exported_logs) == log_records(logs)


def check_zipkin_delivery(sink, traces, definitions, seconds=30):
    (headers, body), = sink.wait_for("/api/v2/spans", seconds=seconds)
    spans = json.loads(body_of(headers, body))
    validator = validator_for(definitions, "Span")
    for span in spans:
        errors = [error.message for error in validator.iter_errors(span)]
        assert errors == [], span
    sent = {span.span_id.hex(): span for _, _, span in spans_by_id(traces).values()}
    assert {span["id"] for span in spans} == set(sent)
    for span in spans:
        assert span["traceId"] == sent[span["id"]].trace_id.hex()
        assert span["name"] == sent[span["id"]].name


def test_accepted_spans_and_logs_reach_the_otlp_and_zipkin_backends(causeway, tmp_path, zipkin_definitions):
    otlp_sink, zipkin_sink = Sink(), Sink()
    collector = Collector(causeway, tmp_path / "data", "--export-otlp", otlp_sink.url,
                          "--export-zipkin", zipkin_sink.url + "/api/v2/spans")
    try:
        traces, logs = producer_and_consumer()
        send(collector, traces, logs)
        check_otlp_delivery(otlp_sink, traces, logs)
        check_zipkin_delivery(zipkin_sink, traces, zipkin_definitions)
    finally:
        assert collector.stop() == 0
        otlp_sink.stop()
        zipkin_sink.stop()


def test_a_backend_answering_503_gets_the_batch_once_it_recovers(causeway, tmp_path):
    sink = Sink(statuses=[503, 503])
    collector = Collector(causeway, tmp_path / "data", "--export-otlp", sink.url)
    try:
        traces, logs = producer_and_consumer()
        send(collector, traces, logs)
        check_otlp_delivery(sink, traces, logs)
        time.sleep(0.5)
        assert len(sink.received("/v1/traces")) == 1
    finally:
        assert collector.stop() == 0
        sink.stop()


def closed_port_url():
    """The URL of a port that was free a moment ago and is now closed."""
    placeholder = Sink()
    port = placeholder.port
    placeholder.stop()
    return port, f"http://127.0.0.1:{port}"


def test_sinks_down_for_30_seconds_across_a_collector_restart_still_receive_everything(
        causeway, tmp_path, zipkin_definitions):
    otlp_port, otlp_url = closed_port_url()
    zipkin_port, zipkin_url = closed_port_url()
    flags = ("--export-otlp", otlp_url, "--export-zipkin", zipkin_url + "/api/v2/spans")
    collector = Collector(causeway, tmp_path / "data", *flags)
    traces, logs = producer_and_consumer()
    send(collector, traces, logs)
    time.sleep(15)  # every delivery is refused, and retried
    assert collector.stop() == 0

    restarted = Collector(causeway, tmp_path / "data", *flags)
    try:
        time.sleep(15)  # still down after the restart
        otlp_sink, zipkin_sink = Sink(port=otlp_port), Sink(port=zipkin_port)
        try:
            # The exporters back off up to 30 s (the default max_interval) between attempts.
            check_otlp_delivery(otlp_sink, traces, logs, seconds=60)
            check_zipkin_delivery(zipkin_sink, traces, zipkin_definitions, seconds=60)
        finally:
            otlp_sink.stop()
            zipkin_sink.stop()
    finally:
        assert restarted.stop() == 0


NO_STITCHER = """\
processors:
  memory_limiter: {}
service:
  pipelines:
    traces:
      receivers: [otlp, zipkin]
      processors: [memory_limiter]
"""


def test_without_the_stitcher_attributes_only_validated_still_reach_the_store_and_the_backend(causeway, tmp_path):
    """Without the stitcher no consumer reads span attributes or events: the receiver only
    validates them, and the store and the OTLP exporter take the spans from the bytes
    received. Nothing of them may be lost, nor when a span is dropped from the request."""
    config = tmp_path / "collector.yaml"
    config.write_text(NO_STITCHER)
    sink = Sink()
    collector = Collector(causeway, tmp_path / "data", "--config", str(config), "--export-otlp", sink.url)
    try:
        traces, logs = producer_and_consumer()
        producer = traces.resource_spans[0].scope_spans[0].spans[0]
        producer.events.add(time_unix_nano=producer.start_time_unix_nano + 1, name="sent", attributes=[attribute("bytes", "42")])
        producer.attributes.append(KeyValue(key="nested", value=AnyValue(kvlist_value={"values": [attribute("k", "v")]})))
        traces.resource_spans[1].scope_spans[0].spans[0].links[0].attributes.append(attribute("link.kind", "message"))
        send(collector, traces, logs)
        check_otlp_delivery(sink, traces, logs)
        stored = collector.wait_for(lambda: collector.otlp_trace(producer.trace_id.hex()), "the producer in the store")
        (_, _, stored_producer), = spans_by_id(stored).values()
        assert stored_producer == without_empty_presence(producer)

        # A span that ends before it starts is dropped; the others still arrive whole.
        broken = ExportTraceServiceRequest()
        broken.CopyFrom(traces)
        bad = broken.resource_spans[0].scope_spans[0].spans.add()
        bad.CopyFrom(producer)
        bad.span_id, bad.end_time_unix_nano = os.urandom(8), producer.start_time_unix_nano - 1
        reply = requests.post(collector.otlp + "/v1/traces", data=broken.SerializeToString(),
                              headers={"Content-Type": "application/x-protobuf"}, timeout=30)
        assert reply.status_code == 200, reply.text
        assert ExportTraceServiceResponse.FromString(reply.content).partial_success.rejected_spans == 1
        _, (headers, body) = sink.wait_for("/v1/traces", count=2)
        assert spans_by_id(ExportTraceServiceRequest.FromString(body_of(headers, body))) == spans_by_id(traces)
    finally:
        assert collector.stop() == 0
        sink.stop()
