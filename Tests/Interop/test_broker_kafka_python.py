"""kafka-python 3.x against `causeway broker`: topics, keyed produce with a traceparent
header under acks=1 and acks=all (idempotence on and off), group consumption, commits,
resuming, a two-member rebalance, and a restart between produce and consume."""

import threading
import time
import urllib.request
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import InvalidTopicError, TopicAlreadyExistsError

from broker_process import Broker, murmur2_partition

TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
PARTITIONS = 3


@pytest.fixture
def broker(causeway, tmp_path):
    process = Broker(causeway, tmp_path / "data").start()
    yield process
    process.stop()


def create_topic(bootstrap, name, partitions=PARTITIONS):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def produce(bootstrap, topic, messages, **config):
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, **config)
    futures = [
        producer.send(topic, key=key, value=value, headers=[("traceparent", TRACEPARENT), ("correlation-id", key)])
        for key, value in messages
    ]
    producer.flush(timeout=30)
    placed = [future.get(timeout=30) for future in futures]
    producer.close()
    return placed


def keyed_messages(count, keys=("order-1", "order-2", "order-3", "order-4", "customer-42")):
    return [(keys[i % len(keys)].encode(), f"event-{i}".encode()) for i in range(count)]


def consume(bootstrap, topic, group, expected, **config):
    consumer = KafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=20000, **config,
    )
    records = []
    deadline = time.monotonic() + 60
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    consumer.commit()
    consumer.close()
    return records


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"acks": 1}, id="acks1"),
        pytest.param({"acks": "all"}, id="acks-all"),
        pytest.param({"acks": "all", "enable_idempotence": True}, id="acks-all-idempotent"),
    ],
)
def test_keyed_messages_round_trip_with_headers_order_and_murmur2_placement(broker, config):
    topic = f"orders-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic)
    messages = keyed_messages(40)
    placed = produce(broker.bootstrap, topic, messages, **config)
    for (key, _), metadata in zip(messages, placed):
        assert metadata.partition == murmur2_partition(key, PARTITIONS), key

    records = consume(broker.bootstrap, topic, f"g-{uuid.uuid4().hex[:6]}", len(messages))
    assert sorted((r.key, r.value) for r in records) == sorted(messages)
    for record in records:
        assert ("traceparent", TRACEPARENT) in [(k, v) for k, v in record.headers]
        assert record.partition == murmur2_partition(record.key, PARTITIONS)
    for key in {key for key, _ in messages}:
        sent = [value for k, value in messages if k == key]
        received = [r.value for r in sorted(records, key=lambda r: (r.partition, r.offset)) if r.key == key]
        assert received == sent, f"per-key order broken for {key!r}"


def test_a_second_member_resumes_from_committed_offsets(broker):
    topic = f"resume-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:6]}"
    create_topic(broker.bootstrap, topic)
    first = keyed_messages(15)
    produce(broker.bootstrap, topic, first, acks="all")
    assert len(consume(broker.bootstrap, topic, group, len(first))) == len(first)
    second = [(b"order-9", f"later-{i}".encode()) for i in range(5)]
    produce(broker.bootstrap, topic, second, acks=1)
    assert lag(broker, group, topic) == len(second)
    resumed = consume(broker.bootstrap, topic, group, len(second))
    assert sorted(r.value for r in resumed) == sorted(v for _, v in second)
    assert lag(broker, group, topic) == 0


def lag(broker, group, topic):
    """The group's total consumer lag on the topic, from the broker's /metrics."""
    text = urllib.request.urlopen(f"http://{broker.host}:{broker.metrics_port}/metrics", timeout=10).read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith("causeway_broker_consumer_lag{") and f'group="{group}"' in line and f'topic="{topic}"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_a_two_member_group_consumes_each_message_once(broker):
    topic = f"pair-{uuid.uuid4().hex[:8]}"
    group = f"g-{uuid.uuid4().hex[:6]}"
    create_topic(broker.bootstrap, topic, partitions=4)
    consumed = {0: [], 1: []}
    stop = threading.Event()
    # Each member's current assignment, sampled after every poll: a rebalance can move
    # partitions after a member first had some, so only the current view counts.
    assignments = [set(), set()]

    def member(index):
        consumer = KafkaConsumer(
            bootstrap_servers=broker.bootstrap, group_id=group, auto_offset_reset="earliest",
            enable_auto_commit=True, auto_commit_interval_ms=200, heartbeat_interval_ms=500, session_timeout_ms=10000,
        )
        # Join only once the topic's partitions are known. A leader whose first assignment
        # found no partition metadata rejoins when the metadata arrives; if poll() times out
        # during that rejoin after the assignment step, kafka-python 3.0.12 never collects
        # the SyncGroup answer (need_rejoin() is already false), so the member keeps
        # heartbeats off until the broker expires its session and its partitions go to the
        # other member. Real Kafka hides this with group.initial.rebalance.delay.ms.
        while not consumer.partitions_for_topic(topic):
            time.sleep(0.05)
        consumer.subscribe([topic])
        while not stop.is_set():
            for batch in consumer.poll(timeout_ms=200).values():
                consumed[index].extend((r.partition, r.offset, r.value) for r in batch)
            assignments[index] = {tp.partition for tp in consumer.assignment()}
        consumer.close()

    threads = [threading.Thread(target=member, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    # Send only once the rebalance settled: both members hold partitions, together all
    # four, and the split has not changed for a second.
    settled_since, last = None, None
    while time.monotonic() < deadline:
        current = (frozenset(assignments[0]), frozenset(assignments[1]))
        complete = all(current) and current[0] | current[1] == {0, 1, 2, 3} and not current[0] & current[1]
        if complete and current == last:
            if time.monotonic() - settled_since >= 1:
                break
        else:
            settled_since = time.monotonic()
        last = current
        time.sleep(0.2)
    messages = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(60)]
    produce(broker.bootstrap, topic, messages, acks="all")
    while time.monotonic() < deadline and len(consumed[0]) + len(consumed[1]) < len(messages):
        time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    values = [value for _, _, value in consumed[0] + consumed[1]]
    assert sorted(values) == sorted(v for _, v in messages)
    assert consumed[0] and consumed[1], "both members received partitions"


def test_create_topics_validates_names_and_duplicates(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic("valid-topic", 2, 1)])
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics([NewTopic("valid-topic", 2, 1)])
        with pytest.raises(InvalidTopicError):
            admin.create_topics([NewTopic("no spaces allowed", 1, 1)])
    finally:
        admin.close()
    assert broker.wait_for_log("create topic refused"), broker.log()


def test_messages_and_committed_offsets_survive_a_restart(causeway, tmp_path):
    data = tmp_path / "data"
    topic, group = "durable", "durable-group"
    broker = Broker(causeway, data).start()
    try:
        create_topic(broker.bootstrap, topic)
        produce(broker.bootstrap, topic, keyed_messages(10), acks="all")
        assert len(consume(broker.bootstrap, topic, group, 10)) == 10
        produce(broker.bootstrap, topic, [(b"after", b"restart-me")], acks="all")
    finally:
        broker.stop()
    broker = Broker(causeway, data).start()
    try:
        resumed = consume(broker.bootstrap, topic, group, 1)
        assert [r.value for r in resumed] == [b"restart-me"]
        everything = consume(broker.bootstrap, topic, "fresh-group", 11)
        assert len(everything) == 11
    finally:
        broker.stop()


def test_list_offsets_earliest_latest(broker):
    topic = f"offsets-{uuid.uuid4().hex[:8]}"
    create_topic(broker.bootstrap, topic, partitions=1)
    produce(broker.bootstrap, topic, keyed_messages(7), acks=1)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    partition = TopicPartition(topic, 0)
    assert consumer.beginning_offsets([partition])[partition] == 0
    assert consumer.end_offsets([partition])[partition] == 7
    found = consumer.offsets_for_times({partition: 0})[partition]
    assert found is not None and found.offset == 0
    consumer.close()
