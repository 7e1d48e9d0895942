"""The order demo and KafkaClient with real third-party clients.

`causeway demo --keep-running` runs the broker, a collector and the four services in one
process; the test reads what the demo printed, then checks the same facts from outside:
kafka-python reads the order messages and their trace headers, confluent-kafka reads the
dead-letter topic, kafka-python sends an order of its own (with a traceparent the
collector never saw) that the services process, and the collector's API answers for
every chain. `causeway service NAME` runs each service as a process of its own against a
separate `causeway broker` and `causeway collector`.
"""

import json
import re
import signal
import subprocess
import threading
import time

import requests
from confluent_kafka import Consumer as ConfluentConsumer
from kafka import KafkaConsumer, KafkaProducer

from broker_process import Broker
from test_collector_chains import finalized_chains, start_collector

TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$")
ROW = re.compile(
    r"^(?P<order>[0-9a-f]{12})\s+(?P<item>\S+)\s+(?P<status>[a-z_]+)\s+(?P<hops>\d+)\s+(?P<spans>\d+)\s+"
    r"(?P<ms>[\d.]+) ms\s+(?P<retries>\d+)\s+(?P<dead>\d+)\s+(?P<duplicates>\d+)\s+(?P<services>\S+)$"
)
PLACED = re.compile(r"^placed order (?P<order>[0-9a-f]{12})\s+item (?P<item>\S+)\s+correlation (?P<correlation>\S+)$")


class Demo:
    """`causeway demo --keep-running` on free ports; collects its stdout."""

    def __init__(self, causeway, tmp_path, orders=6):
        config = tmp_path / "demo.yaml"
        config.write_text(
            "broker_port: 0\nbroker_metrics_port: 0\ncollector_otlp_port: 0\ncollector_zipkin_port: 0\ncollector_http_port: 0\n"
            f"order_port: 0\ndata_dir: {tmp_path / 'demo'}\nchain_idle_window: 1s\n"
        )
        self.process = subprocess.Popen(
            [str(causeway), "demo", "--keep-running", "--orders", str(orders), "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines = []
        self.stderr = []
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"demo exited early:\n{''.join(self.lines)}\n{''.join(self.stderr)[-4000:]}")
            self.lines.append(line)
            if line.startswith("running;"):
                break
        else:
            raise AssertionError("demo did not finish its orders within 180 s:\n" + "".join(self.lines))
        text = "".join(self.lines)
        self.broker = re.search(r"broker\s+(127\.0\.0\.1:\d+)", text).group(1)
        self.query = re.search(r"query API and UI (http://127\.0\.0\.1:\d+)", text).group(1)
        self.orders_url = re.search(r"order (http://127\.0\.0\.1:\d+)/orders", text).group(1) + "/orders"
        self.broker_metrics, self.collector_metrics = re.findall(r"metrics (http://127\.0\.0\.1:\d+/metrics)", text)
        self.rows = {m["item"]: m for m in (ROW.match(line.rstrip("\n")) for line in self.lines) if m}
        self.placed = {m["order"]: m for m in (PLACED.match(line.rstrip("\n")) for line in self.lines) if m}

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def chains(query, correlation_id):
    reply = requests.get(query + "/api/chains", params={"correlation_id": correlation_id}, timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def wait_for_final_chain(query, correlation_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = chains(query, correlation_id)
        if found and not any(chain["open"] for chain in found):
            detail = requests.get(f"{query}/api/chains/{found[0]['chainID']}", timeout=30).json()["data"][0]
            return detail
        time.sleep(0.25)
    raise AssertionError(f"no final chain for correlation {correlation_id}")


def test_the_demo_stitches_every_order_and_real_clients_see_its_messages(causeway, tmp_path):
    demo = Demo(causeway, tmp_path)
    try:
        # What the demo printed: one chain per order, with the scenario's shapes.
        assert set(demo.rows) == {"book", "flaky-gadget", "poison-pill", "echo-chamber", "unobtainium", "lamp"}, "".join(demo.lines)
        all_four = "inventory-service,notification-service,order-service,payment-service"
        for item in ("book", "lamp", "unobtainium"):
            row = demo.rows[item]
            assert (row["status"], row["hops"], row["services"]) == ("complete", "3", all_four), row.groupdict()
        assert demo.rows["flaky-gadget"]["retries"] == "1"
        assert (demo.rows["poison-pill"]["status"], demo.rows["poison-pill"]["dead"]) == ("has_dead_letters", "1")
        assert demo.rows["poison-pill"]["retries"] == "2"
        assert demo.rows["echo-chamber"]["duplicates"] == "1"
        assert "notification-service" in "".join(demo.lines)  # the waterfall's lanes

        # kafka-python reads the orders: every message carries the W3C headers, the
        # correlation ID the order service answered with, and a message ID.
        consumer = KafkaConsumer(
            "order_events", bootstrap_servers=demo.broker, auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
        )
        messages = list(consumer)
        consumer.close()
        assert len(messages) == 6
        for message in messages:
            headers = {name: value.decode() for name, value in message.headers}
            event = json.loads(message.value)
            placed = demo.placed[event["order"]["order_id"]]
            assert TRACEPARENT.match(headers["traceparent"]), headers
            assert headers["correlation-id"] == placed["correlation"]
            assert f"correlation.id={placed['correlation']}" in headers["baggage"]
            assert re.fullmatch(r"[0-9a-f]{32}", headers["message-id"])
            assert message.key.decode() == event["order"]["order_id"]
            assert event["status"] == "placed"

        # confluent-kafka reads the dead letter, with where it came from.
        dlq = ConfluentConsumer({"bootstrap.servers": demo.broker, "group.id": "interop-dlq", "auto.offset.reset": "earliest"})
        dlq.subscribe(["inventory_events.dlq"])
        letter = None
        deadline = time.monotonic() + 30
        while letter is None and time.monotonic() < deadline:
            polled = dlq.poll(1.0)
            if polled is not None and polled.error() is None:
                letter = polled
        dlq.close()
        assert letter is not None, "nothing on inventory_events.dlq"
        headers = {name: value.decode() for name, value in letter.headers()}
        assert headers["causeway-dead-letter"] == "true"
        assert headers["causeway-original-topic"] == "inventory_events"
        assert headers["causeway-attempts"] == "3"
        assert "declined" in headers["causeway-dead-letter-reason"]
        assert json.loads(letter.value())["order"]["item"] == "poison-pill"

        # An order sent by kafka-python, gzip-compressed, with trace context of its own: the services
        # process it, and the collector reports the producer it never received.
        producer = KafkaProducer(bootstrap_servers=demo.broker, compression_type="gzip")
        order = {"order": {"order_id": "0123456789ab", "customer": "py", "item": "book", "quantity": 1}, "status": "placed"}
        producer.send("order_events", key=b"0123456789ab", value=json.dumps(order).encode(), headers=[
            ("traceparent", b"00-11111111111111111111111111111111-2222222222222222-01"),
            ("correlation-id", b"interop-order-1"),
        ]).get(timeout=30)
        producer.close()
        chain = wait_for_final_chain(demo.query, "interop-order-1")
        assert chain["hopCount"] == 3
        assert [hop["topic"] for hop in chain["hops"]] == ["order_events", "inventory_events", "payment_events"]
        assert chain["hops"][0]["producer"]["received"] is False
        assert chain["missingCount"] >= 1

        # The order service over HTTP: bad input names the field; a good order gets a chain
        # that `causeway chain` draws.
        bad = requests.post(demo.orders_url, json={"item": "book", "quantity": 1.5}, timeout=30)
        assert bad.status_code == 400 and "quantity must be a whole number" in bad.json()["error"]
        bad = requests.post(demo.orders_url, data=b"not json", headers={"content-type": "application/json"}, timeout=30)
        assert bad.status_code == 400
        good = requests.post(demo.orders_url, json={"item": "lamp", "customer": "ada"}, timeout=30)
        assert good.status_code == 202, good.text
        correlation = good.json()["correlation_id"]
        assert good.headers["correlation-id"] == correlation
        wait_for_final_chain(demo.query, correlation)
        drawn = subprocess.run([str(causeway), "chain", correlation, "--collector", demo.query], capture_output=True, text=True, timeout=60)
        assert drawn.returncode == 0, drawn.stderr
        for lane in ("order-service", "inventory-service", "payment-service", "notification-service"):
            assert lane in drawn.stdout
    finally:
        assert demo.stop() == 0, "".join(demo.stderr)[-4000:]


def test_each_service_runs_as_a_process_of_its_own(causeway, tmp_path):
    broker = Broker(causeway, tmp_path / "broker").start()
    collector = start_collector(causeway, tmp_path)
    services = []
    try:
        config = tmp_path / "demo.yaml"
        config.write_text(
            f"bootstrap_servers: [\"{broker.bootstrap}\"]\ncollector_endpoint: {collector.otlp}\n"
            "order_port: 0\npartitions: 2\nexport_interval: 200ms\n"
        )
        order_url = None
        for name in ("inventory", "payment", "notification", "order"):
            process = subprocess.Popen([str(causeway), "service", name, "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            services.append(process)
            line = process.stdout.readline()
            while line and not (line.startswith("listening order=") or line.startswith("ready ")):
                line = process.stdout.readline()
            assert line, f"{name} exited: {process.stderr.read()}"
            if name == "order":
                order_url = "http://" + line.split("=", 1)[1].strip() + "/orders"
        reply = requests.post(order_url, json={"item": "book", "customer": "ada"}, timeout=30)
        assert reply.status_code == 202, reply.text
        correlation = reply.json()["correlation_id"]
        chain = finalized_chains(collector, correlation_id=correlation)[0]
        detail = collector.get(f"/api/chains/{chain['chainID']}").json()["data"][0]
        assert detail["status"] == "complete" and detail["hopCount"] == 3
        lanes = {hop["producer"]["service"] for hop in detail["hops"]} | {
            delivery["service"] for hop in detail["hops"] for delivery in hop["deliveries"]}
        assert lanes == {"order-service", "inventory-service", "payment-service", "notification-service"}
        # Each service's JSON log lines carry the trace and correlation IDs.
        for process in services:
            process.send_signal(signal.SIGTERM)
        for process in services:
            assert process.wait(timeout=30) == 0, process.stderr.read()
            lines = [json.loads(line) for line in process.stdout if line.startswith("{")]
            assert any(line.get("correlation_id") == correlation and "trace_id" in line for line in lines)
    finally:
        for process in services:
            if process.poll() is None:
                process.kill()
        collector.stop()
        broker.stop()


def test_bad_service_names_and_demo_flags_are_refused_with_the_reason(causeway, tmp_path):
    result = subprocess.run([str(causeway), "service", "shipping"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "unknown service \"shipping\"" in result.stderr
    result = subprocess.run([str(causeway), "demo", "--orders", "-1"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--orders" in result.stderr
    config = tmp_path / "demo.yaml"
    config.write_text("order_prot: 8000\n")
    result = subprocess.run([str(causeway), "service", "order", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "unknown key \"order_prot\"" in result.stderr
