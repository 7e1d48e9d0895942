"""Produce and consume throughput of `causeway broker` (through librdkafka, confluent-kafka,
with large batches) against Redis Streams (XADD/XREAD pipelined over raw RESP) in the same
run, with comparable durability: nothing fsynced, and fsync every second.

Usage: broker_bench.py --causeway BIN [--messages N] [--sizes 100,1024]
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

LISTENING = re.compile(r"listening kafka=([\d.]+):(\d+)")


def start_broker(binary, data_dir, flush_ms, in_memory):
    args = [binary, "broker", "--port", "0", "--metrics-port=-1", "--data-dir", data_dir]
    if in_memory:
        args.append("--in-memory")
    config = os.path.join(data_dir, "bench.yaml")
    os.makedirs(data_dir, exist_ok=True)
    with open(config, "w") as f:
        f.write(f"flush_interval_ms: {flush_ms}\nsegment_bytes: 268435456\n")
    process = subprocess.Popen(args + ["--config", config], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = LISTENING.search(line)
    if not match:
        raise RuntimeError(f"broker did not start: {line!r}")
    return process, f"{match.group(1)}:{match.group(2)}"


def kafka_round(bootstrap, count, size):
    topic = f"bench-{size}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 4, 1)]).values():
        future.result(30)
    producer = Producer({
        "bootstrap.servers": bootstrap, "acks": "1", "linger.ms": 20, "batch.size": 1_000_000,
        "batch.num.messages": 100_000, "queue.buffering.max.messages": 2_000_000, "queue.buffering.max.kbytes": 2_000_000,
        "compression.codec": "none", "enable.idempotence": False,
    })
    payload = b"x" * size
    started = time.perf_counter()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, payload, partition=i % 4)
                break
            except BufferError:
                producer.poll(0.001)
    producer.flush(120)
    produce_seconds = time.perf_counter() - started
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"bench-{size}", "auto.offset.reset": "earliest",
        "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760, "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    received = 0
    started = time.perf_counter()
    while received < count:
        for message in consumer.consume(num_messages=100_000, timeout=1.0):
            if not message.error():
                received += 1
    consume_seconds = time.perf_counter() - started
    consumer.close()
    return produce_seconds, consume_seconds


def resp(*parts):
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def read_replies(sock, count, buffer=b""):
    """Counts `count` top-level RESP replies; XADD answers bulk strings, XREAD nested arrays."""
    chunks = bytearray(buffer)
    replies = 0
    position = 0

    def need(n):
        nonlocal chunks
        while len(chunks) - position < n:
            data = sock.recv(1 << 20)
            if not data:
                raise RuntimeError("redis closed the connection")
            chunks += data

    def line():
        nonlocal position
        while True:
            end = chunks.find(b"\r\n", position)
            if end >= 0:
                text = bytes(chunks[position:end])
                position = end + 2
                return text
            need(len(chunks) - position + 1)

    def value():
        nonlocal position
        head = line()
        kind, rest = head[:1], head[1:]
        if kind in (b"+", b"-", b":"):
            return 0
        if kind == b"$":
            n = int(rest)
            if n >= 0:
                need(n + 2)
                position += n + 2
            return 0
        if kind == b"*":
            n = int(rest)
            total = 0
            for _ in range(max(n, 0)):
                total += value()
            return total + (1 if n >= 0 else 0)
        raise RuntimeError(f"unexpected reply {head!r}")

    entries = 0
    while replies < count:
        entries += value()
        replies += 1
    return entries


def redis_round(port, count, size, connections=4, depth=100):
    payload = b"x" * size
    per_connection = count // connections
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    command = resp("XADD", f"bench-{size}", "*", "v", payload)
    started = time.perf_counter()
    sent = [0] * connections
    while any(s < per_connection for s in sent):
        # One pipeline of `depth` XADDs on every connection, then every reply.
        batches = []
        for index, sock in enumerate(socks):
            batch = min(depth, per_connection - sent[index])
            if batch > 0:
                sock.sendall(command * batch)
                sent[index] += batch
            batches.append(batch)
        for sock, batch in zip(socks, batches):
            if batch > 0:
                read_replies(sock, batch)
    produce_seconds = time.perf_counter() - started
    reader = socks[0]
    received = 0
    last = "0"
    started = time.perf_counter()
    while received < per_connection * connections:
        reader.sendall(resp("XREAD", "COUNT", 10000, "STREAMS", f"bench-{size}", last))
        reply = read_xread(reader)
        received += reply[0]
        last = reply[1]
    consume_seconds = time.perf_counter() - started
    for sock in socks:
        sock.close()
    return produce_seconds, consume_seconds


def read_xread(sock):
    """Reads one XREAD reply; returns (entries, last id)."""
    buffer = bytearray()
    while True:
        data = sock.recv(1 << 22)
        buffer += data
        if buffer.endswith(b"\r\n") and complete(buffer):
            break
    ids = re.findall(rb"\$\d+\r\n(\d+-\d+)\r\n", bytes(buffer))
    return len(ids), ids[-1].decode()


def complete(buffer):
    position = 0

    def value(position):
        end = buffer.find(b"\r\n", position)
        if end < 0:
            raise IndexError
        head = buffer[position:end]
        position = end + 2
        kind = head[:1]
        if kind in (b"+", b"-", b":"):
            return position
        if kind == b"$":
            n = int(head[1:])
            if n < 0:
                return position
            if len(buffer) < position + n + 2:
                raise IndexError
            return position + n + 2
        if kind == b"*":
            n = int(head[1:])
            for _ in range(max(n, 0)):
                position = value(position)
            return position
        raise RuntimeError(head)

    try:
        return value(position) == len(buffer)
    except IndexError:
        return False


def start_redis(data_dir, fsync):
    port = free_port()
    args = ["redis-server", "--port", str(port), "--save", "", "--dir", data_dir, "--daemonize", "no"]
    args += ["--appendonly", "yes", "--appendfsync", "everysec"] if fsync else ["--appendonly", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--causeway", required=True)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="100,1024")
    args = parser.parse_args()
    print(f"{'system':<34} {'size':>5} {'produce msg/s':>14} {'MB/s':>7} {'consume msg/s':>14} {'MB/s':>7}")
    for size in [int(s) for s in args.sizes.split(",")]:
        count = args.messages if size <= 100 else args.messages // 4
        for label, flush_ms, in_memory, fsync in [
            ("causeway broker, memory only", 0, True, False),
            ("causeway broker, fsync every 1 s", 1000, False, True),
        ]:
            work = tempfile.mkdtemp(prefix="causeway-bench-")
            broker, bootstrap = start_broker(args.causeway, work, flush_ms, in_memory)
            try:
                produced, consumed = kafka_round(bootstrap, count, size)
            finally:
                broker.terminate()
                broker.wait()
                shutil.rmtree(work, ignore_errors=True)
            report(label, size, count, produced, consumed)
            work = tempfile.mkdtemp(prefix="causeway-bench-redis-")
            redis, port = start_redis(work, fsync)
            try:
                produced, consumed = redis_round(port, count, size)
            finally:
                redis.terminate()
                redis.wait()
                shutil.rmtree(work, ignore_errors=True)
            report("redis streams, " + ("AOF fsync every 1 s" if fsync else "no persistence"), size, count, produced, consumed)


def report(label, size, count, produced, consumed):
    print(f"{label:<34} {size:>5} {count / produced:>14,.0f} {count * size / produced / 1e6:>7.1f} "
          f"{count / consumed:>14,.0f} {count * size / consumed / 1e6:>7.1f}", flush=True)


if __name__ == "__main__":
    main()
