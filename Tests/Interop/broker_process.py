"""Starts `causeway broker` on free ports with its own data directory, for the broker interop tests."""

import os
import re
import signal
import subprocess
import threading
import time

LISTENING = re.compile(r"listening kafka=([\d.]+):(\d+)(?: metrics=([\d.]+):(\d+))?")


class Broker:
    def __init__(self, binary, data_dir, extra=()):
        self.binary = binary
        self.data_dir = data_dir
        self.extra = list(extra)
        self.process = None
        self.stderr_lines = []

    def start(self):
        self.process = subprocess.Popen(
            [str(self.binary), "broker", "--port", "0", "--metrics-port", "0", "--data-dir", str(self.data_dir), *self.extra],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"broker exited before listening: {''.join(self.stderr_lines)[-4000:]}")
            match = LISTENING.search(line)
            if match:
                self.host, self.port = match.group(1), int(match.group(2))
                self.metrics_port = int(match.group(4)) if match.group(4) else None
                return self
        raise RuntimeError("broker did not print its listening line within 60 s")

    def _drain_stderr(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line)

    @property
    def bootstrap(self):
        return f"{self.host}:{self.port}"

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill9(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log(self):
        return "".join(self.stderr_lines)

    def wait_for_log(self, text, timeout=10.0):
        """Whether `text` appears in the broker's log within `timeout` seconds: a line is
        written after the response it explains, and read by a thread of this process."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def murmur2_partition(key: bytes, partitions: int) -> int:
    """Java Kafka's default partitioner, written from its definition (seed 0x9747b28c)."""
    length = len(key)
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length - length % 4
    rest = length % 4
    if rest >= 3:
        h ^= key[tail + 2] << 16
    if rest >= 2:
        h ^= key[tail + 1] << 8
    if rest >= 1:
        h ^= key[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions
