"""Scenarios of the stitcher (issue 5's Proof) in a running collector, spans from the
OpenTelemetry Python SDK over OTLP/HTTP (protobuf).

Each service has its own TracerProvider; a message hop is a PRODUCER span and, in another
trace, a CONSUMER span linking to it, as the SDK's Kafka instrumentations emit them. Times
are explicit, so every figure of /api/chains and /api/chains/{id} is checked exactly. The
collector runs with a 200 ms idle window (a config file); the stitcher ticks once a second.
Covered here: a linear chain of 3 messages through 4 services (and its stitched Zipkin
export), a retry, a dead letter, a duplicate skipped, a lost message, spans out of order,
a span 10 minutes late re-opening a finalized chain, and a chain crossing an HTTP call.
Fan-out, a shared correlation ID and an orphan consumer are in test_collector_chains.py.
"""

import json
import time

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.status import Status, StatusCode

from test_collector_chains import finalized_chains, tracer
from test_collector_export import Sink, body_of
from test_collector_ingest import Collector
from test_zipkin import validator_for, zipkin_definitions  # noqa: F401 (fixture)

T0 = 1_700_000_000_000_000_000
MS = 1_000_000
MINUTE = 60_000 * MS

CONFIG = """\
processors:
  stitcher:
    idle_window: 200ms
    unconsumed_window: 2s
    topics_without_consumers: ["audit.*"]
"""


def start_collector(causeway, tmp_path, *extra):
    config = tmp_path / "collector.yaml"
    config.write_text(CONFIG)
    return Collector(causeway, tmp_path / "data", "--config", str(config), *extra)


class Services:
    """One TracerProvider per service, all exporting to the collector."""

    def __init__(self, collector, *names):
        self.providers = {name: tracer(collector, name) for name in names}

    def span(self, service, name, kind, start, end, *, topic=None, parent=None, links=(), attributes=None,
             error=False, events=()):
        attributes = dict(attributes or {})
        if topic is not None:
            attributes["messaging.system"] = "kafka"
            attributes["messaging.destination.name"] = topic
        context = trace.set_span_in_context(parent if parent is not None else trace.INVALID_SPAN)
        span = self.providers[service][1].start_span(
            name, context=context, kind=kind, start_time=start, attributes=attributes,
            links=[Link(target.get_span_context()) for target in links])
        for event, at in events:
            span.add_event(event, timestamp=at)
        if error:
            span.set_status(Status(StatusCode.ERROR, "failed"))
        span.end(end_time=end)  # SimpleSpanProcessor: exported now, so the order of end() is the order of arrival
        return span

    def produce(self, service, topic, start, end, **options):
        return self.span(service, f"{topic} publish", SpanKind.PRODUCER, start, end, topic=topic, **options)

    def consume(self, service, producer, start, end, *, topic=None, group=None, **options):
        topic = topic or producer.attributes["messaging.destination.name"]
        attributes = dict(options.pop("attributes", None) or {})
        attributes["messaging.consumer.group.name"] = group or service
        return self.span(service, f"{topic} process", SpanKind.CONSUMER, start, end, topic=topic,
                         links=[producer], attributes=attributes, **options)

    def shutdown(self):
        for provider, _ in self.providers.values():
            provider.shutdown()


def trace_hex(span):
    return format(span.get_span_context().trace_id, "032x")


def span_hex(span):
    return format(span.get_span_context().span_id, "016x")


def ref(span):
    return {"traceID": trace_hex(span), "spanID": span_hex(span)}


def detail(collector, chain_id):
    reply = collector.get(f"/api/chains/{chain_id}")
    assert reply.status_code == 200, reply.text
    [chain] = reply.json()["data"]
    return chain


def hop_shape(hop):
    """What a hop says about who sent what to whom, and how long each delivery waited."""
    return (
        hop["topic"], hop["producer"]["service"], hop["producer"]["spanID"],
        [(d["service"], d["consumerGroup"], d["spanID"], d["queueWaitNanos"], d["attempt"], d["error"], d["duplicateSkipped"])
         for d in hop["deliveries"]],
    )


def delivered(consumer, wait, *, attempt=1, error=False, duplicate=False):
    return (consumer.resource.attributes["service.name"], consumer.attributes["messaging.consumer.group.name"],
            span_hex(consumer), wait, attempt, error, duplicate)


def exported_zipkin(sink, accept):
    """The spans of the sink's POSTs, once `accept(spans)` is true of them."""
    for _ in range(600):
        exported = [span for headers, body in sink.received("/api/v2/spans") for span in json.loads(body_of(headers, body))]
        if accept(exported):
            return exported
        time.sleep(0.05)
    raise AssertionError(f"the sink never received the expected spans; got {sink.received('/api/v2/spans')}")


def check_one_zipkin_tree(exported, spans_sent, chain_id, definitions):
    """The stitched export: every span once, valid against Zipkin's schema, one trace ID,
    one root and every parentId among the spans."""
    validator = validator_for(definitions, "Span")
    for span in exported:
        assert [error.message for error in validator.iter_errors(span)] == [], span
    by_id = {span["id"]: span for span in exported}
    assert len(by_id) == len(exported)
    assert set(by_id) == {span_hex(span) for span in spans_sent}
    assert {span["traceId"] for span in exported} == {chain_id}
    roots = [span["id"] for span in exported if "parentId" not in span]
    assert len(roots) == 1
    assert all(span["parentId"] in by_id for span in exported if "parentId" in span)
    for span in exported:  # no cycle: every span reaches the root
        seen, current = set(), span
        while "parentId" in current:
            assert current["id"] not in seen
            seen.add(current["id"])
            current = by_id[current["parentId"]]
        assert current["id"] == roots[0]
    return by_id


def all_of(spans_sent):
    expected = {span_hex(span) for span in spans_sent}
    return lambda exported: {span["id"] for span in exported} >= expected


def test_linear_chain_of_three_messages_through_four_services(causeway, tmp_path, zipkin_definitions):
    sink = Sink()
    collector = start_collector(causeway, tmp_path, "--export-zipkin", sink.url + "/api/v2/spans", "--stitched-export")
    try:
        services = Services(collector, "order", "inventory", "payment", "notification")
        orders = services.produce("order", "orders", T0, T0 + 3 * MS,
                                  attributes={"messaging.message.conversation_id": "order-21",
                                              "messaging.destination.partition.id": "2", "messaging.kafka.offset": 41})
        reserve = services.consume("inventory", orders, T0 + 10 * MS, T0 + 30 * MS)
        stock = services.produce("inventory", "stock.reserved", T0 + 20 * MS, T0 + 22 * MS, parent=reserve)
        # The record timestamp (ms) measures this wait instead of the producer's end.
        charge = services.consume("payment", stock, T0 + 40 * MS, T0 + 70 * MS,
                                  attributes={"messaging.kafka.message.timestamp": (T0 + 25 * MS) // MS})
        paid = services.produce("payment", "payments", T0 + 60 * MS, T0 + 61 * MS, parent=charge)
        notify = services.consume("notification", paid, T0 + 100 * MS, T0 + 120 * MS)
        services.shutdown()
        spans = [orders, reserve, stock, charge, paid, notify]

        [summary] = finalized_chains(collector, correlation_id="order-21")
        chain_id = trace_hex(orders)
        assert summary["chainID"] == chain_id
        assert summary["status"] == "complete"
        assert summary["revision"] == 1
        assert (summary["rootService"], summary["rootOperation"]) == ("order", "orders publish")
        assert (summary["startTimeUnixNano"], summary["endTimeUnixNano"]) == (T0, T0 + 120 * MS)
        assert summary["endToEndNanos"] == 120 * MS
        assert (summary["spanCount"], summary["hopCount"]) == (6, 3)
        assert sorted(summary["traceIDs"]) == sorted({trace_hex(span) for span in spans})
        assert len(summary["traceIDs"]) == 4
        counts = ("errorCount", "missingCount", "fanOutHops", "retries", "deadLetterHops", "duplicatesSkipped")
        assert [summary[key] for key in counts] == [0] * 6

        chain = detail(collector, trace_hex(notify))  # any trace ID of the chain finds it
        assert chain["chainID"] == chain_id
        assert [hop_shape(hop) for hop in chain["hops"]] == [
            ("orders", "order", span_hex(orders), [delivered(reserve, 7 * MS)]),
            ("stock.reserved", "inventory", span_hex(stock), [delivered(charge, 15 * MS)]),
            ("payments", "payment", span_hex(paid), [delivered(notify, 39 * MS)]),
        ]
        assert (chain["hops"][0]["partition"], chain["hops"][0]["offset"]) == (2, 41)
        assert chain["criticalPath"] == [0, 1, 2]
        assert [hop["onCriticalPath"] for hop in chain["hops"]] == [True, True, True]
        assert chain["missing"] == []
        for service in ("order", "inventory", "payment", "notification"):
            assert [c["chainID"] for c in collector.get("/api/chains", service=service).json()["data"]] == [chain_id]
        assert [c["chainID"] for c in collector.get("/api/chains", topic="stock.reserved").json()["data"]] == [chain_id]

        by_id = check_one_zipkin_tree(exported_zipkin(sink, all_of(spans)), spans, chain_id, zipkin_definitions)
        assert "parentId" not in by_id[span_hex(orders)]
        assert [by_id[span_hex(span)]["parentId"] for span in (reserve, stock, charge, paid, notify)] == [
            span_hex(orders), span_hex(reserve), span_hex(stock), span_hex(charge), span_hex(paid)]
        assert by_id[span_hex(charge)]["tags"]["causeway.original_trace_id"] == trace_hex(charge)
        assert {span["tags"]["causeway.chain_id"] for span in by_id.values()} == {chain_id}
    finally:
        assert collector.stop() == 0
        sink.stop()


def test_retried_message_is_numbered_per_group(causeway, tmp_path):
    collector = start_collector(causeway, tmp_path)
    try:
        services = Services(collector, "checkout", "billing", "audit")
        message = {"messaging.message.id": "m-77", "correlation.id": "order-22"}
        sent = services.produce("checkout", "invoices", T0, T0 + 2 * MS, attributes=message)
        failed = services.consume("billing", sent, T0 + 5 * MS, T0 + 9 * MS, error=True)
        audited = services.consume("audit", sent, T0 + 6 * MS, T0 + 8 * MS)
        retried = services.consume("billing", sent, T0 + 1000 * MS, T0 + 1004 * MS)
        services.shutdown()

        [summary] = finalized_chains(collector, correlation_id="order-22")
        assert summary["chainID"] == trace_hex(sent)
        assert summary["status"] == "has_errors"
        assert (summary["retries"], summary["errorCount"], summary["hopCount"], summary["spanCount"]) == (1, 1, 1, 4)
        assert summary["endToEndNanos"] == 1004 * MS
        [hop] = detail(collector, summary["chainID"])["hops"]
        assert hop["messageID"] == "m-77"
        assert (hop["retries"], hop["errorCount"], hop["fanOut"]) == (1, 1, True)
        # Deliveries in the order they arrived; the retry is the second attempt of group billing only.
        assert hop_shape(hop) == ("invoices", "checkout", span_hex(sent), [
            delivered(failed, 3 * MS, error=True),
            delivered(audited, 4 * MS),
            delivered(retried, 998 * MS, attempt=2),
        ])

        # Retried by republishing the same message ID: the new hop's delivery is attempt 2.
        again = Services(collector, "checkout", "billing")
        first = again.produce("checkout", "invoices", T0, T0 + 2 * MS,
                              attributes={"messaging.message.id": "m-78", "correlation.id": "order-32"})
        refused = again.consume("billing", first, T0 + 5 * MS, T0 + 9 * MS, error=True)
        resent = again.produce("billing", "invoices", T0 + 9 * MS, T0 + 10 * MS, parent=refused,
                               attributes={"messaging.message.id": "m-78"})
        accepted = again.consume("billing", resent, T0 + 20 * MS, T0 + 25 * MS)
        again.shutdown()
        [summary] = finalized_chains(collector, correlation_id="order-32")
        assert (summary["status"], summary["retries"], summary["hopCount"], summary["endToEndNanos"]) == ("has_errors", 1, 2, 25 * MS)
        assert [hop_shape(hop) for hop in detail(collector, summary["chainID"])["hops"]] == [
            ("invoices", "checkout", span_hex(first), [delivered(refused, 3 * MS, error=True)]),
            ("invoices", "billing", span_hex(resent), [delivered(accepted, 10 * MS, attempt=2)]),
        ]
    finally:
        assert collector.stop() == 0


def test_dead_lettered_message_by_topic_name_and_by_attribute(causeway, tmp_path):
    collector = start_collector(causeway, tmp_path)
    try:
        services = Services(collector, "checkout", "payment", "inspector")
        # By name: payment fails the message and sends it to orders.dlq.
        sent = services.produce("checkout", "orders", T0, T0 + 1 * MS, attributes={"correlation.id": "order-23"})
        failed = services.consume("payment", sent, T0 + 4 * MS, T0 + 10 * MS, error=True)
        parked = services.produce("payment", "orders.dlq", T0 + 8 * MS, T0 + 9 * MS, parent=failed)
        inspected = services.consume("inspector", parked, T0 + 30 * MS, T0 + 31 * MS)
        # By attribute, on a topic whose name says nothing.
        other = services.produce("checkout", "orders", T0 + 100 * MS, T0 + 101 * MS, attributes={"correlation.id": "order-24"})
        other_failed = services.consume("payment", other, T0 + 102 * MS, T0 + 103 * MS, error=True)
        other_parked = services.produce("payment", "orders-parking", T0 + 103 * MS, T0 + 104 * MS, parent=other_failed,
                                        attributes={"causeway.dead_letter": True})
        services.consume("inspector", other_parked, T0 + 110 * MS, T0 + 111 * MS)
        services.shutdown()

        [summary] = finalized_chains(collector, correlation_id="order-23")
        assert summary["status"] == "has_dead_letters"
        assert (summary["deadLetterHops"], summary["errorCount"], summary["hopCount"], summary["missingCount"]) == (1, 1, 2, 0)
        assert summary["endToEndNanos"] == 31 * MS
        chain = detail(collector, summary["chainID"])
        assert [hop_shape(hop) for hop in chain["hops"]] == [
            ("orders", "checkout", span_hex(sent), [delivered(failed, 3 * MS, error=True)]),
            ("orders.dlq", "payment", span_hex(parked), [delivered(inspected, 21 * MS)]),
        ]
        assert [hop["deadLetter"] for hop in chain["hops"]] == [False, True]
        listed = collector.get("/api/chains", status="has_dead_letters", correlation_id="order-23").json()["data"]
        assert [c["chainID"] for c in listed] == [trace_hex(sent)]

        [other_summary] = finalized_chains(collector, correlation_id="order-24")
        other_chain = detail(collector, other_summary["chainID"])
        assert [(hop["topic"], hop["deadLetter"]) for hop in other_chain["hops"]] == [("orders", False), ("orders-parking", True)]
        assert other_chain["hops"][1]["producer"]["spanID"] == span_hex(other_parked)
        assert (other_summary["status"], other_summary["deadLetterHops"]) == ("has_dead_letters", 1)
    finally:
        assert collector.stop() == 0


def test_duplicate_skipped_is_neither_a_retry_nor_an_attempt(causeway, tmp_path):
    collector = start_collector(causeway, tmp_path)
    try:
        services = Services(collector, "checkout", "shipping")
        sent = services.produce("checkout", "orders", T0, T0 + 2 * MS,
                                attributes={"messaging.message.id": "m-5", "correlation.id": "order-25"})
        processed = services.consume("shipping", sent, T0 + 6 * MS, T0 + 20 * MS)
        skipped = services.consume("shipping", sent, T0 + 50 * MS, T0 + 51 * MS,
                                   events=[("duplicate_skipped", T0 + 50 * MS + 500_000)])
        services.shutdown()

        [summary] = finalized_chains(collector, correlation_id="order-25")
        assert summary["status"] == "complete"
        assert (summary["duplicatesSkipped"], summary["retries"], summary["errorCount"], summary["hopCount"]) == (1, 0, 0, 1)
        assert summary["endToEndNanos"] == 51 * MS
        [hop] = detail(collector, summary["chainID"])["hops"]
        assert (hop["duplicatesSkipped"], hop["retries"], hop["fanOut"]) == (1, 0, False)
        assert hop_shape(hop) == ("orders", "checkout", span_hex(sent), [
            delivered(processed, 4 * MS),
            delivered(skipped, 48 * MS, attempt=0, duplicate=True),
        ])
    finally:
        assert collector.stop() == 0


def test_message_nobody_processes_within_the_window_is_missing(causeway, tmp_path):
    # Wall-clock times: the 2 s unconsumed window runs from the producer's end.
    collector = start_collector(causeway, tmp_path)
    try:
        services = Services(collector, "checkout", "inventory", "auditor")
        now = time.time_ns()
        sent = services.produce("checkout", "orders", now, now + 1 * MS, attributes={"correlation.id": "order-26"})
        reserve = services.consume("inventory", sent, now + 3 * MS, now + 8 * MS)
        lost = services.produce("inventory", "payments", now + 5 * MS, now + 6 * MS, parent=reserve)
        # Nobody is expected to consume audit.* topics.
        unread = services.produce("auditor", "audit.events", now, now + 1 * MS, attributes={"correlation.id": "audit-1"})
        services.shutdown()

        [waiting] = collector.wait_for(
            lambda: collector.get("/api/chains", correlation_id="order-26").json()["data"], "the open chain")
        assert waiting["status"] == "in_progress"
        assert waiting["missingCount"] == 0

        [summary] = finalized_chains(collector, correlation_id="order-26")
        assert time.time_ns() >= now + 6 * MS + 2_000 * MS  # finalized only once the window was over
        assert summary["status"] == "has_missing_hops"
        assert (summary["missingCount"], summary["hopCount"], summary["endToEndNanos"]) == (1, 2, 8 * MS)
        chain = detail(collector, summary["chainID"])
        assert chain["missing"] == [{"kind": "unconsumed_message", "producer": ref(lost), "topic": "payments"}]
        assert [hop_shape(hop) for hop in chain["hops"]] == [
            ("orders", "checkout", span_hex(sent), [delivered(reserve, 2 * MS)]),
            ("payments", "inventory", span_hex(lost), []),
        ]
        assert collector.get("/api/chains", status="has_missing_hops").json()["data"][0]["chainID"] == trace_hex(sent)

        [audit] = finalized_chains(collector, correlation_id="audit-1")
        assert audit["chainID"] == trace_hex(unread)
        assert (audit["status"], audit["missingCount"], audit["hopCount"]) == ("complete", 0, 1)
    finally:
        assert collector.stop() == 0


def test_spans_arriving_in_reverse_order_form_the_same_chain(causeway, tmp_path):
    collector = start_collector(causeway, tmp_path)
    try:
        services = Services(collector, "order", "inventory", "payment")
        tracers = {name: pair[1] for name, pair in services.providers.items()}
        # Start every span first (IDs known), then end them last hop first: the SDK exports on end().
        orders = tracers["order"].start_span(
            "orders publish", context=trace.set_span_in_context(trace.INVALID_SPAN), kind=SpanKind.PRODUCER, start_time=T0,
            attributes={"messaging.destination.name": "orders", "correlation.id": "order-27"})
        reserve = tracers["inventory"].start_span(
            "orders process", context=trace.set_span_in_context(trace.INVALID_SPAN), kind=SpanKind.CONSUMER,
            start_time=T0 + 10 * MS, links=[Link(orders.get_span_context())],
            attributes={"messaging.destination.name": "orders", "messaging.consumer.group.name": "inventory"})
        stock = tracers["inventory"].start_span(
            "stock publish", context=trace.set_span_in_context(reserve), kind=SpanKind.PRODUCER, start_time=T0 + 12 * MS,
            attributes={"messaging.destination.name": "stock"})
        charge = tracers["payment"].start_span(
            "stock process", context=trace.set_span_in_context(trace.INVALID_SPAN), kind=SpanKind.CONSUMER,
            start_time=T0 + 20 * MS, links=[Link(stock.get_span_context())],
            attributes={"messaging.destination.name": "stock", "messaging.consumer.group.name": "payment"})
        charge.end(end_time=T0 + 25 * MS)
        stock.end(end_time=T0 + 13 * MS)
        reserve.end(end_time=T0 + 15 * MS)
        orders.end(end_time=T0 + 1 * MS)
        services.shutdown()

        [summary] = finalized_chains(collector, correlation_id="order-27")
        assert summary["chainID"] == trace_hex(orders)
        assert summary["status"] == "complete"
        assert summary["revision"] == 1
        assert (summary["rootService"], summary["rootOperation"]) == ("order", "orders publish")
        assert (summary["spanCount"], summary["hopCount"], summary["missingCount"], summary["endToEndNanos"]) == (4, 2, 0, 25 * MS)
        chain = detail(collector, trace_hex(charge))
        assert chain["chainID"] == trace_hex(orders)
        assert [(hop["topic"], hop["producer"]["service"], hop["producer"]["spanID"],
                 [(d["service"], d["spanID"], d["queueWaitNanos"]) for d in hop["deliveries"]]) for hop in chain["hops"]] == [
            ("orders", "order", span_hex(orders), [("inventory", span_hex(reserve), 9 * MS)]),
            ("stock", "inventory", span_hex(stock), [("payment", span_hex(charge), 7 * MS)]),
        ]
        assert chain["missing"] == []
        assert chain["criticalPath"] == [0, 1]
    finally:
        assert collector.stop() == 0


def test_span_ten_minutes_late_reopens_the_finalized_chain(causeway, tmp_path):
    collector = start_collector(causeway, tmp_path)
    try:
        services = Services(collector, "checkout", "shipping", "archive")
        sent = services.produce("checkout", "orders", T0, T0 + 2 * MS, attributes={"correlation.id": "order-28"})
        shipped = services.consume("shipping", sent, T0 + 5 * MS, T0 + 9 * MS)
        [first] = finalized_chains(collector, correlation_id="order-28")
        assert (first["revision"], first["spanCount"], first["endToEndNanos"], first["status"]) == (1, 2, 9 * MS, "complete")

        # Processed ten minutes after it was sent, and arriving after the chain was finalized.
        archived = services.consume("archive", sent, T0 + 2 * MS + 10 * MINUTE, T0 + 2 * MS + 10 * MINUTE + 3 * MS)
        services.shutdown()

        def second_revision():
            data = collector.get("/api/chains", correlation_id="order-28").json()["data"]
            return data if data and data[0]["revision"] == 2 and not data[0]["open"] else None

        [second] = collector.wait_for(second_revision, "revision 2 of the chain")
        assert second["chainID"] == trace_hex(sent)
        assert (second["spanCount"], second["hopCount"], second["status"]) == (3, 1, "complete")
        assert second["endToEndNanos"] == 10 * MINUTE + 5 * MS
        assert second["fanOutHops"] == 1
        [hop] = detail(collector, trace_hex(archived))["hops"]
        assert hop_shape(hop) == ("orders", "checkout", span_hex(sent), [
            delivered(shipped, 3 * MS),
            delivered(archived, 10 * MINUTE),
        ])
    finally:
        assert collector.stop() == 0


def test_chain_crossing_an_http_call(causeway, tmp_path, zipkin_definitions):
    sink = Sink()
    collector = start_collector(causeway, tmp_path, "--export-zipkin", sink.url + "/api/v2/spans", "--stitched-export")
    try:
        services = Services(collector, "order", "inventory", "pricing", "notification")
        orders = services.produce("order", "orders", T0, T0 + 2 * MS, attributes={"correlation.id": "order-29"})
        reserve = services.consume("inventory", orders, T0 + 6 * MS, T0 + 40 * MS)
        # inventory calls pricing over HTTP; pricing publishes the next message.
        call = services.span("inventory", "POST /prices", SpanKind.CLIENT, T0 + 10 * MS, T0 + 30 * MS, parent=reserve,
                             attributes={"http.request.method": "POST"})
        serve = services.span("pricing", "POST /prices", SpanKind.SERVER, T0 + 12 * MS, T0 + 28 * MS, parent=call,
                              attributes={"http.request.method": "POST"})
        priced = services.produce("pricing", "prices", T0 + 20 * MS, T0 + 22 * MS, parent=serve)
        notify = services.consume("notification", priced, T0 + 50 * MS, T0 + 55 * MS)
        services.shutdown()
        spans = [orders, reserve, call, serve, priced, notify]
        assert trace_hex(serve) == trace_hex(reserve)  # the HTTP call propagates the trace

        [summary] = finalized_chains(collector, correlation_id="order-29")
        assert summary["chainID"] == trace_hex(orders)
        assert summary["status"] == "complete"
        assert (summary["spanCount"], summary["hopCount"], summary["endToEndNanos"]) == (6, 2, 55 * MS)
        assert sorted(summary["traceIDs"]) == sorted({trace_hex(orders), trace_hex(reserve), trace_hex(notify)})
        chain = detail(collector, summary["chainID"])
        assert [hop_shape(hop) for hop in chain["hops"]] == [
            ("orders", "order", span_hex(orders), [delivered(reserve, 4 * MS)]),
            ("prices", "pricing", span_hex(priced), [delivered(notify, 28 * MS)]),
        ]
        assert chain["criticalPath"] == [0, 1]
        assert chain["missing"] == []
        assert [c["chainID"] for c in collector.get("/api/chains", service="pricing").json()["data"]] == [trace_hex(orders)]
        edges = collector.get("/api/dependencies", endTs=T0 // MS + 1000, lookback=10_000).json()["data"]
        dependencies = {(edge["parent"], edge["child"]) for edge in edges}
        assert {("order", "inventory"), ("inventory", "pricing"), ("pricing", "notification")} <= dependencies

        by_id = check_one_zipkin_tree(exported_zipkin(sink, all_of(spans)), spans, summary["chainID"], zipkin_definitions)
        assert [by_id[span_hex(span)]["parentId"] for span in (reserve, call, serve, priced, notify)] == [
            span_hex(orders), span_hex(reserve), span_hex(call), span_hex(serve), span_hex(priced)]
    finally:
        assert collector.stop() == 0
        sink.stop()


def test_late_producer_becomes_the_root_and_replaces_the_orphan_chain(causeway, tmp_path, zipkin_definitions):
    sink = Sink()
    collector = start_collector(causeway, tmp_path, "--export-zipkin", sink.url + "/api/v2/spans", "--stitched-export")
    try:
        services = Services(collector, "checkout", "shipping")
        sent = services.providers["checkout"][1].start_span(
            "orders publish", context=trace.set_span_in_context(trace.INVALID_SPAN), kind=SpanKind.PRODUCER, start_time=T0,
            attributes={"messaging.destination.name": "orders", "correlation.id": "order-30"})
        shipped = services.consume("shipping", sent, T0 + 5 * MS, T0 + 9 * MS, attributes={"correlation.id": "order-30"})
        # The consumer alone, finalized: its link points at a span not received.
        [orphan] = finalized_chains(collector, correlation_id="order-30")
        assert orphan["chainID"] == trace_hex(shipped)
        assert (orphan["status"], orphan["revision"], orphan["missingCount"]) == ("has_missing_hops", 1, 1)

        exported_zipkin(sink, all_of([shipped]))
        sent.end(end_time=T0 + 2 * MS)  # the producer arrives after the chain was finalized and exported
        services.shutdown()

        def replaced():
            data = collector.get("/api/chains", correlation_id="order-30").json()["data"]
            return data if [chain["chainID"] for chain in data] == [trace_hex(sent)] and not data[0]["open"] else None

        [summary] = collector.wait_for(replaced, "the chain under its producer's trace ID")
        assert (summary["status"], summary["revision"], summary["missingCount"]) == ("complete", 2, 0)
        assert (summary["rootService"], summary["spanCount"], summary["endToEndNanos"]) == ("checkout", 2, 9 * MS)
        chain = detail(collector, trace_hex(shipped))  # the consumer's trace ID now finds the new chain
        assert chain["chainID"] == trace_hex(sent)
        assert [hop_shape(hop) for hop in chain["hops"]] == [("orders", "checkout", span_hex(sent), [delivered(shipped, 3 * MS)])]
        assert [c["chainID"] for c in collector.get("/api/chains", service="shipping").json()["data"]] == [trace_hex(sent)]

        # The stitched export sent the orphan chain, then the re-finalized chain again, whole.
        exported_zipkin(sink, lambda _: len(sink.received("/api/v2/spans")) >= 2)
        (first_headers, first_body), (headers, body) = sink.received("/api/v2/spans")
        orphan_spans = json.loads(body_of(first_headers, first_body))
        assert [(span["traceId"], span["id"]) for span in orphan_spans] == [(trace_hex(shipped), span_hex(shipped))]
        by_id = check_one_zipkin_tree(json.loads(body_of(headers, body)), [sent, shipped], trace_hex(sent), zipkin_definitions)
        assert by_id[span_hex(shipped)]["parentId"] == span_hex(sent)
    finally:
        assert collector.stop() == 0
        sink.stop()
