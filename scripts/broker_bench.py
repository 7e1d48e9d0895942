"""Produce and consume throughput of `causeway broker` against Redis Streams in the same
run, with comparable durability: nothing fsynced, fsync every second, and (optionally)
fsync before every acknowledgement.

Both sides are driven by Swift clients in the same binary, so that neither is limited by
a Python loop: `causeway bench broker` (a batching Kafka-protocol client: record batches
of thousands of records, pipelined Produce requests, large Fetches) and `causeway bench
redis-streams` (XADD pipelined 100 deep on 4 connections, XREAD COUNT 10000). A third
row drives the broker through librdkafka (confluent-kafka, large batches), whose Python
produce loop is its own ceiling.

Usage: broker_bench.py --causeway BIN [--messages N] [--sizes 100,1024]
                       [--durability none,1s[,always]] [--no-librdkafka]
"""

import argparse
import json
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


def start_redis(data_dir, fsync):
    port = free_port()
    args = ["redis-server", "--port", str(port), "--save", "", "--dir", data_dir, "--daemonize", "no"]
    args += ["--appendonly", "yes", "--appendfsync", fsync] if fsync else ["--appendonly", "no"]
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


# Durability levels: (name, broker storage, broker flush_interval_ms, redis appendfsync).
DURABILITY = {
    "none": ("memory only", "memory", 0, None, "no persistence"),
    "1s": ("fsync every 1 s", "disk", 1000, "everysec", "AOF fsync every 1 s"),
    "always": ("fsync every batch", "disk", 0, "always", "AOF fsync always"),
}


def swift_bench(binary, args):
    """Runs one `causeway bench ...` and returns its RESULT figures."""
    output = subprocess.run([binary, "bench", *args, "--json"], check=True, capture_output=True, text=True).stdout
    for line in output.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"no RESULT line from causeway bench {' '.join(args)}:\n{output}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--causeway", required=True)
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages of 100 B; a quarter as many of 1 KB and more")
    parser.add_argument("--sizes", default="100,1024")
    parser.add_argument("--durability", default="none,1s", help="comma-separated: none, 1s, always")
    parser.add_argument("--no-librdkafka", action="store_true", help="skip the confluent-kafka row")
    args = parser.parse_args()
    print(f"{'system':<44} {'size':>5} {'produce msg/s':>14} {'MB/s':>7} {'consume msg/s':>14} {'MB/s':>7} {'CPU µs/msg p / c':>18} {'peak RSS MiB':>13}")
    for size in [int(s) for s in args.sizes.split(",")]:
        count = args.messages if size <= 100 else args.messages // 4
        for level in args.durability.split(","):
            label, storage, flush_ms, fsync, redis_label = DURABILITY[level]
            swift = swift_bench(args.causeway, ["broker", "--messages", str(count), "--size", str(size),
                                                "--storage", storage, "--flush-interval-ms", str(flush_ms)])
            report(f"causeway broker, {label} (Swift client)", size, count, swift["produce_seconds"], swift["consume_seconds"],
                   f"{swift['broker_produce_cpu_seconds'] / count * 1e6:.2f} / {swift['broker_consume_cpu_seconds'] / count * 1e6:.2f}",
                   swift["broker_peak_rss_mib"])
            if not args.no_librdkafka:
                work = tempfile.mkdtemp(prefix="causeway-bench-")
                broker, bootstrap = start_broker(args.causeway, work, flush_ms, storage == "memory")
                try:
                    produced, consumed = kafka_round(bootstrap, count, size)
                finally:
                    broker.terminate()
                    broker.wait()
                    shutil.rmtree(work, ignore_errors=True)
                report(f"causeway broker, {label} (librdkafka)", size, count, produced, consumed)
            work = tempfile.mkdtemp(prefix="causeway-bench-redis-")
            redis, port = start_redis(work, fsync)
            try:
                redis_figures = swift_bench(args.causeway, ["redis-streams", "--server", f"127.0.0.1:{port}",
                                                           "--messages", str(count), "--size", str(size)])
            finally:
                redis.terminate()
                redis.wait()
                shutil.rmtree(work, ignore_errors=True)
            report(f"redis streams, {redis_label}", size, count, redis_figures["produce_seconds"], redis_figures["consume_seconds"])
            print(f"{'  ratio broker (Swift client) / redis':<44} {size:>5} "
                  f"{redis_figures['produce_seconds'] / swift['produce_seconds']:>13.1f}x {'':>7} "
                  f"{redis_figures['consume_seconds'] / swift['consume_seconds']:>13.1f}x", flush=True)


def report(label, size, count, produced, consumed, cpu_us="", peak_mib=None):
    cpu = f"{cpu_us:>18}"
    peak = f"{peak_mib:>13.0f}" if peak_mib is not None else f"{'':>13}"
    print(f"{label:<44} {size:>5} {count / produced:>14,.0f} {count * size / produced / 1e6:>7.1f} "
          f"{count / consumed:>14,.0f} {count * size / consumed / 1e6:>7.1f} {cpu} {peak}", flush=True)


if __name__ == "__main__":
    main()
