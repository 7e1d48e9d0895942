"""confluent-kafka (librdkafka) against `causeway broker`: keyed produce with
murmur2_random placement and a traceparent header (acks=1, acks=all, idempotence), group
consumption and commits, and kill -9 during an acks=all produce with flush on every batch."""

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from broker_process import Broker, murmur2_partition

TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
PARTITIONS = 3


@pytest.fixture
def broker(causeway, tmp_path):
    process = Broker(causeway, tmp_path / "data").start()
    yield process
    process.stop()


def create_topic(bootstrap, name, partitions=PARTITIONS):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(timeout=30)


def produce(bootstrap, topic, messages, **config):
    delivered = []
    errors = []

    def report(error, message):
        if error is not None:
            errors.append(error)
        else:
            delivered.append((message.key(), message.value(), message.partition(), message.offset()))

    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 5, **config})
    for key, value in messages:
        producer.produce(topic, key=key, value=value, headers=[("traceparent", TRACEPARENT)], on_delivery=report)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors, errors
    return delivered


def consume(bootstrap, topic, group, expected):
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    records = []
    deadline = time.monotonic() + 60
    while len(records) < expected and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            raise KafkaException(message.error())
        records.append(message)
    if records:
        consumer.commit(asynchronous=False)
    consumer.close()
    return records


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"acks": "1"}, id="acks1"),
        pytest.param({"acks": "all"}, id="acks-all"),
        pytest.param({"acks": "all", "enable.idempotence": True}, id="acks-all-idempotent"),
    ],
)
def test_keyed_messages_round_trip_with_murmur2_random_placement(broker, config):
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic)
    messages = [(f"order-{i % 6}".encode(), f"event-{i}".encode()) for i in range(60)]
    delivered = produce(broker.bootstrap, topic, messages, **config)
    assert len(delivered) == len(messages)
    for key, _, partition, _ in delivered:
        assert partition == murmur2_partition(key, PARTITIONS), key

    records = consume(broker.bootstrap, topic, f"g-{uuid.uuid4().hex[:6]}", len(messages))
    assert sorted((m.key(), m.value()) for m in records) == sorted(messages)
    for message in records:
        assert ("traceparent", TRACEPARENT) in message.headers()
    for key in {key for key, _ in messages}:
        sent = [value for k, value in messages if k == key]
        assert [m.value() for m in records if m.key() == key] == sent


def test_a_group_resumes_from_committed_offsets(broker):
    topic = f"resume-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:6]}"
    create_topic(broker.bootstrap, topic)
    produce(broker.bootstrap, topic, [(b"a", f"first-{i}".encode()) for i in range(10)], acks="all")
    assert len(consume(broker.bootstrap, topic, group, 10)) == 10
    produce(broker.bootstrap, topic, [(b"a", b"second")], acks="all")
    assert [m.value() for m in consume(broker.bootstrap, topic, group, 1)] == [b"second"]


def test_every_acknowledged_message_survives_kill_9(causeway, tmp_path):
    data = tmp_path / "data"
    broker = Broker(causeway, data).start()
    topic = "crash"
    create_topic(broker.bootstrap, topic, partitions=1)
    acknowledged = []

    def report(error, message):
        if error is None:
            acknowledged.append(message.value())

    producer = Producer({
        "bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 1, "message.timeout.ms": 3000,
        "retries": 0, "enable.idempotence": False,
    })
    deadline = time.monotonic() + 30
    sent = 0
    # Keep messages in flight and kill the broker under them once some were acknowledged.
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        producer.produce(topic, value=f"m-{sent}".encode(), on_delivery=report)
        sent += 1
        producer.poll(0)
        if sent % 50 == 0:
            producer.poll(0.01)
    broker.kill9()
    producer.flush(10)
    assert acknowledged, "some messages were acknowledged before the kill"
    restarted = Broker(causeway, data).start()
    try:
        stored = consume(restarted.bootstrap, topic, "after-crash", len(acknowledged))
        values = {m.value() for m in stored}
        missing = [v for v in acknowledged if v not in values]
        assert not missing, f"{len(missing)} acknowledged messages lost"
    finally:
        restarted.stop()
