"""The collector stitches chains from spans the OpenTelemetry Python SDK sends.

Producer and consumer spans live in separate traces joined by a span link, as the SDK's
Kafka instrumentations emit them; each service has its own TracerProvider exporting over
OTLP/HTTP (protobuf). The collector runs with a 200 ms idle window (a config file), so
chains are finalized and stored quickly; /api/chains and `causeway chain` are checked.
"""

import json
import subprocess
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags

from test_collector_export import Sink, body_of, producer_and_consumer, send
from test_collector_ingest import Collector
from test_zipkin import validator_for, zipkin_definitions  # noqa: F401 (fixture)

T0 = 1_700_000_000_000_000_000
MS = 1_000_000

CONFIG = """\
processors:
  stitcher:
    idle_window: 200ms
"""


def start_collector(causeway, tmp_path, *extra):
    config = tmp_path / "collector.yaml"
    config.write_text(CONFIG)
    return Collector(causeway, tmp_path / "data", "--config", str(config), *extra)


def tracer(collector, service):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=collector.otlp + "/v1/traces")))
    return provider, provider.get_tracer("interop")


def finalized_chains(collector, **params):
    def probe():
        reply = collector.get("/api/chains", **params)
        assert reply.status_code == 200, reply.text
        data = reply.json()["data"]
        return data if data and not any(chain["open"] for chain in data) else None

    return collector.wait_for(probe, f"finalized chains for {params}")


def test_producer_and_linked_consumer_form_one_chain_with_exact_wait(causeway, tmp_path):
    collector = start_collector(causeway, tmp_path)
    try:
        checkout, checkout_tracer = tracer(collector, "checkout")
        shipping, shipping_tracer = tracer(collector, "shipping")
        producer = checkout_tracer.start_span(
            "orders publish", kind=SpanKind.PRODUCER, start_time=T0,
            attributes={"messaging.system": "kafka", "messaging.destination.name": "orders",
                        "messaging.message.conversation_id": "order-9"})
        producer.end(end_time=T0 + 5 * MS)
        consumer = shipping_tracer.start_span(
            "orders process", kind=SpanKind.CONSUMER, start_time=T0 + 25 * MS, context=trace.set_span_in_context(trace.INVALID_SPAN),
            links=[Link(producer.get_span_context())],
            attributes={"messaging.system": "kafka", "messaging.destination.name": "orders",
                        "messaging.consumer.group.name": "shipping"})
        consumer.end(end_time=T0 + 40 * MS)
        checkout.shutdown()
        shipping.shutdown()

        producer_trace = format(producer.get_span_context().trace_id, "032x")
        consumer_trace = format(consumer.get_span_context().trace_id, "032x")
        assert producer_trace != consumer_trace

        [summary] = finalized_chains(collector, correlation_id="order-9")
        assert summary["chainID"] == producer_trace
        assert summary["status"] == "complete"
        assert summary["rootService"] == "checkout"
        assert summary["rootOperation"] == "orders publish"
        assert summary["startTimeUnixNano"] == T0
        assert summary["endToEndNanos"] == 40 * MS
        assert summary["spanCount"] == 2
        assert summary["hopCount"] == 1
        assert sorted(summary["traceIDs"]) == sorted([producer_trace, consumer_trace])

        reply = collector.get(f"/api/chains/{consumer_trace}")
        assert reply.status_code == 200, reply.text
        [chain] = reply.json()["data"]
        [hop] = chain["hops"]
        assert hop["topic"] == "orders"
        assert hop["producer"]["service"] == "checkout"
        assert hop["producer"]["spanID"] == format(producer.get_span_context().span_id, "016x")
        [delivery] = hop["deliveries"]
        assert delivery["service"] == "shipping"
        assert delivery["consumerGroup"] == "shipping"
        assert delivery["queueWaitNanos"] == 20 * MS
        assert chain["missing"] == []
        spans = [span for rs in chain["spans"]["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]]
        assert sorted(span["name"] for span in spans) == ["orders process", "orders publish"]

        waterfall = subprocess.run(
            [str(causeway), "chain", "order-9", "--collector", collector.http, "--width", "40"],
            capture_output=True, text=True, timeout=60)
        assert waterfall.returncode == 0, waterfall.stderr
        assert f"chain {producer_trace}  correlation order-9  complete  end-to-end 40ms" in waterfall.stdout
        assert "checkout |" in waterfall.stdout and "shipping |" in waterfall.stdout
        assert "1. orders: checkout -> shipping waited 20ms" in waterfall.stdout
        by_trace = subprocess.run(
            [str(causeway), "chain", consumer_trace, "--collector", collector.http],
            capture_output=True, text=True, timeout=60)
        assert by_trace.returncode == 0, by_trace.stderr
        assert f"chain {producer_trace}" in by_trace.stdout
    finally:
        assert collector.stop() == 0


def test_fan_out_and_two_chains_sharing_a_correlation_id(causeway, tmp_path):
    collector = start_collector(causeway, tmp_path)
    try:
        providers = {name: tracer(collector, name) for name in ("checkout", "shipping", "analytics")}

        def produce(start):
            span = providers["checkout"][1].start_span(
                "orders publish", kind=SpanKind.PRODUCER, start_time=start,
                attributes={"messaging.destination.name": "orders", "messaging.message.conversation_id": "order-11"})
            span.end(end_time=start + 2 * MS)
            return span

        def consume(service, producer, start, end):
            span = providers[service][1].start_span(
                "orders process", kind=SpanKind.CONSUMER, start_time=start, context=trace.set_span_in_context(trace.INVALID_SPAN),
                links=[Link(producer.get_span_context())],
                attributes={"messaging.destination.name": "orders", "messaging.consumer.group.name": service})
            span.end(end_time=end)
            return span

        first = produce(T0)
        consume("shipping", first, T0 + 12 * MS, T0 + 20 * MS)
        consume("analytics", first, T0 + 32 * MS, T0 + 50 * MS)
        second = produce(T0 + 1000 * MS)
        consume("shipping", second, T0 + 1003 * MS, T0 + 1010 * MS)
        for provider, _ in providers.values():
            provider.shutdown()

        listed = collector.wait_for(
            lambda: (lambda data: data if len(data) == 2 and not any(c["open"] for c in data) else None)(
                collector.get("/api/chains", correlation_id="order-11").json()["data"]),
            "both chains of order-11")
        # Newest start first.
        assert [chain["chainID"] for chain in listed] == [
            format(second.get_span_context().trace_id, "032x"), format(first.get_span_context().trace_id, "032x")]
        assert [chain["endToEndNanos"] for chain in listed] == [10 * MS, 50 * MS]
        assert [chain["fanOutHops"] for chain in listed] == [0, 1]
        [chain] = collector.get(f"/api/chains/{listed[1]['chainID']}").json()["data"]
        [hop] = chain["hops"]
        assert hop["fanOut"] is True
        assert [(d["consumerGroup"], d["queueWaitNanos"]) for d in hop["deliveries"]] == [("shipping", 10 * MS), ("analytics", 30 * MS)]
        assert [c["chainID"] for c in collector.get("/api/chains", service="analytics").json()["data"]] == [listed[1]["chainID"]]
    finally:
        assert collector.stop() == 0


def test_consumer_linking_to_an_unsent_producer_is_an_orphan_link(causeway, tmp_path):
    collector = start_collector(causeway, tmp_path)
    try:
        provider, consumer_tracer = tracer(collector, "billing")
        missing = SpanContext(trace_id=0x5EED, span_id=0xFEED, is_remote=True, trace_flags=TraceFlags(1))
        consumer = consumer_tracer.start_span(
            "invoices process", kind=SpanKind.CONSUMER, start_time=T0, links=[Link(missing)],
            attributes={"messaging.destination.name": "invoices", "correlation.id": "invoice-3"})
        consumer.end(end_time=T0 + 7 * MS)
        provider.shutdown()

        [summary] = finalized_chains(collector, correlation_id="invoice-3")
        assert summary["status"] == "has_missing_hops"
        assert summary["missingCount"] == 1
        [chain] = collector.get(f"/api/chains/{summary['chainID']}").json()["data"]
        assert chain["missing"] == [{
            "kind": "orphan_link",
            "consumer": {"traceID": format(consumer.get_span_context().trace_id, "032x"),
                         "spanID": format(consumer.get_span_context().span_id, "016x")},
            "target": {"traceID": format(0x5EED, "032x"), "spanID": format(0xFEED, "016x")},
        }]
        assert collector.get("/api/chains", status="sideways").status_code == 400
    finally:
        assert collector.stop() == 0


def test_stitched_zipkin_export_sends_the_chain_as_one_valid_tree(causeway, tmp_path, zipkin_definitions):
    sink = Sink()
    collector = start_collector(causeway, tmp_path, "--export-zipkin", sink.url + "/api/v2/spans", "--stitched-export")
    try:
        traces, logs = producer_and_consumer()
        send(collector, traces, logs)
        (headers, body), = sink.wait_for("/api/v2/spans")
        spans = json.loads(body_of(headers, body))
        validator = validator_for(zipkin_definitions, "Span")
        for span in spans:
            assert [error.message for error in validator.iter_errors(span)] == [], span
        producer = traces.resource_spans[0].scope_spans[0].spans[0]
        consumer = traces.resource_spans[1].scope_spans[0].spans[0]
        by_id = {span["id"]: span for span in spans}
        assert set(by_id) == {producer.span_id.hex(), consumer.span_id.hex()}
        assert {span["traceId"] for span in spans} == {producer.trace_id.hex()}
        assert "parentId" not in by_id[producer.span_id.hex()]
        assert by_id[consumer.span_id.hex()]["parentId"] == producer.span_id.hex()
        assert by_id[consumer.span_id.hex()]["tags"]["causeway.original_trace_id"] == consumer.trace_id.hex()
    finally:
        assert collector.stop() == 0
        sink.stop()


def test_stitched_export_without_a_zipkin_exporter_is_refused(causeway, tmp_path):
    result = subprocess.run([str(causeway), "collector", "--stitched-export", "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "--stitched-export applies to the Zipkin exporter" in result.stderr


def test_open_chains_are_stored_on_shutdown_and_taken_back_after_a_restart(causeway, tmp_path):
    # The default 30 s idle window: the chain is still open when SIGTERM arrives. Recent
    # times, so that the restarted collector's retention sweep (72 h) keeps them.
    collector = Collector(causeway, tmp_path / "data")
    now = time.time_ns()
    try:
        checkout, checkout_tracer = tracer(collector, "checkout")
        shipping, shipping_tracer = tracer(collector, "shipping")
        producer = checkout_tracer.start_span(
            "orders publish", kind=SpanKind.PRODUCER, start_time=now,
            attributes={"messaging.destination.name": "orders", "correlation.id": "order-12"})
        producer.end(end_time=now + 2 * MS)
        consumer = shipping_tracer.start_span(
            "orders process", kind=SpanKind.CONSUMER, start_time=now + 4 * MS, context=trace.set_span_in_context(trace.INVALID_SPAN),
            links=[Link(producer.get_span_context())], attributes={"messaging.destination.name": "orders"})
        consumer.end(end_time=now + 9 * MS)
        checkout.shutdown()
        shipping.shutdown()
        listed = collector.wait_for(
            lambda: collector.get("/api/chains", correlation_id="order-12").json()["data"], "the open chain")
        assert [chain["open"] for chain in listed] == [True]
    finally:
        assert collector.stop() == 0
    restarted = Collector(causeway, tmp_path / "data")
    try:
        [chain] = restarted.get("/api/chains", correlation_id="order-12").json()["data"]
        assert chain["chainID"] == format(producer.get_span_context().trace_id, "032x")
        assert chain["open"] is False
        assert chain["spanCount"] == 2
        assert chain["endToEndNanos"] == 9 * MS
        [stored] = restarted.get(f"/api/chains/{chain['chainID']}").json()["data"]
        assert len(stored["spans"]["resourceSpans"]) == 2

        # A late consumer of the same message, sent to the restarted collector, joins the
        # chain the first run stored (taken back at start) instead of starting its own
        # with an orphan link. The 30 s idle window keeps it open, read from the stitcher.
        billing, billing_tracer = tracer(restarted, "billing")
        late = billing_tracer.start_span(
            "orders process", kind=SpanKind.CONSUMER, start_time=now + 20 * MS, context=trace.set_span_in_context(trace.INVALID_SPAN),
            links=[Link(producer.get_span_context())],
            attributes={"messaging.destination.name": "orders", "messaging.consumer.group.name": "billing"})
        late.end(end_time=now + 30 * MS)
        billing.shutdown()
        late_trace = format(late.get_span_context().trace_id, "032x")

        def joined_chain():
            data = restarted.get(f"/api/chains/{late_trace}").json().get("data")
            return data[0] if data and data[0]["spanCount"] == 3 else None

        joined = restarted.wait_for(joined_chain, "the late consumer in the chain the first run stored")
        assert joined["chainID"] == chain["chainID"]
        assert joined["open"] is True
        assert joined["missing"] == []
        assert joined["correlationID"] == "order-12"
    finally:
        assert restarted.stop() == 0
