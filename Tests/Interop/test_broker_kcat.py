"""kcat (Debian's, librdkafka 2.0.x, which checks features by exact API versions) against
`causeway broker`: produce keyed messages with a header, read them back, list metadata,
and consume in a group."""

import shutil
import subprocess

import pytest

from broker_process import Broker, murmur2_partition

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (scripts/install-deps.sh installs it)")


@pytest.fixture
def broker(causeway, tmp_path):
    process = Broker(causeway, tmp_path / "data").start()
    yield process
    process.stop()


def kcat(broker, *args, input=None):
    result = subprocess.run(["kcat", "-b", broker.bootstrap, *args], input=input, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kcat_produces_and_consumes_keyed_messages_with_headers(broker):
    lines = "".join(f"key-{i % 4}:value-{i}\n" for i in range(20))
    kcat(broker, "-P", "-t", "kcat-topic", "-K:", "-H", "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
         "-X", "partitioner=murmur2_random", input=lines)
    out = kcat(broker, "-C", "-t", "kcat-topic", "-e", "-q", "-f", "%k|%s|%p|%h\n")
    rows = [line.split("|") for line in out.splitlines()]
    assert sorted(value for _, value, _, _ in rows) == sorted(f"value-{i}" for i in range(20))
    for key, _, partition, headers in rows:
        assert int(partition) == murmur2_partition(key.encode(), 3)
        assert headers == "traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_kcat_lists_metadata_and_consumes_in_a_group(broker):
    kcat(broker, "-P", "-t", "kcat-group", "-K:", input="a:1\nb:2\nc:3\n")
    assert 'topic "kcat-group" with 3 partitions' in kcat(broker, "-L")
    out = kcat(broker, "-G", "kcat-consumers", "-X", "auto.offset.reset=earliest", "kcat-group", "-e", "-q", "-f", "%s\n")
    assert sorted(out.split()) == ["1", "2", "3"]
