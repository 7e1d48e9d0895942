"""Writes the seed corpus of the KafkaWireFuzzRequest fuzz target: one request frame (no
size prefix) per file, for each API of the broker's subset."""

import pathlib
import struct

OUT = pathlib.Path(__file__).resolve().parents[1] / "Fuzz" / "corpus" / "KafkaWireFuzzRequest"


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def s(text):
    raw = text.encode()
    return struct.pack(">h", len(raw)) + raw


def varint(value):
    value = (value << 1) ^ (value >> 63)
    out = b""
    while value >= 0x80:
        out += bytes([(value & 0x7F) | 0x80])
        value >>= 7
    return out + bytes([value])


def header(api, version, correlation=1):
    return struct.pack(">hhi", api, version, correlation) + s("fuzz-seed")


def batch():
    record = b"\x00" + varint(0) + varint(0) + varint(3) + b"key" + varint(5) + b"value" + varint(1) + varint(11) + b"traceparent" + varint(2) + b"00"
    records = varint(len(record)) + record
    tail = struct.pack(">hiqqqhii", 0, 0, 1700000000000, 1700000000000, -1, -1, -1, 1) + records
    body = struct.pack(">i", -1) + b"\x02" + struct.pack(">I", crc32c(tail)) + tail
    return struct.pack(">qi", 0, len(body)) + body


def frames():
    yield "api_versions_v2", header(18, 2)
    yield "api_versions_v3", header(18, 3) + b"\x00" + b"\x08abcdefg\x021\x00"
    yield "metadata_v8", header(3, 8) + struct.pack(">i", 1) + s("orders") + b"\x01\x00\x00"
    yield "metadata_v0_all", header(3, 0) + struct.pack(">i", 0)
    records = batch()
    yield "produce_v8", header(0, 8) + struct.pack(">hhi", -1, -1, 5000) + struct.pack(">i", 1) + s("orders") + struct.pack(">ii", 1, 0) + struct.pack(">i", len(records)) + records
    yield "fetch_v11", header(1, 11) + struct.pack(">iiiibii", -1, 500, 1, 1 << 20, 0, 0, -1) + struct.pack(">i", 1) + s("orders") + struct.pack(">iiiqqi", 1, 0, -1, 0, -1, 1 << 20) + struct.pack(">i", 0) + s("")
    yield "list_offsets_v5", header(2, 5) + struct.pack(">ib", -1, 0) + struct.pack(">i", 1) + s("orders") + struct.pack(">iiiq", 1, 0, -1, -2)
    yield "find_coordinator_v2", header(10, 2) + s("group") + b"\x00"
    yield "join_group_v5", header(11, 5) + s("group") + struct.pack(">ii", 10000, 300000) + s("") + struct.pack(">h", -1) + s("consumer") + struct.pack(">i", 1) + s("range") + struct.pack(">i", 4) + b"\x00\x01\x00\x00"
    yield "sync_group_v3", header(14, 3) + s("group") + struct.pack(">i", 1) + s("m-1") + struct.pack(">h", -1) + struct.pack(">i", 1) + s("m-1") + struct.pack(">i", 0)
    yield "heartbeat_v3", header(12, 3) + s("group") + struct.pack(">i", 1) + s("m-1") + struct.pack(">h", -1)
    yield "leave_group_v3", header(13, 3) + s("group") + struct.pack(">i", 1) + s("m-1") + struct.pack(">h", -1)
    yield "offset_commit_v7", header(8, 7) + s("group") + struct.pack(">i", 1) + s("m-1") + struct.pack(">h", -1) + struct.pack(">i", 1) + s("orders") + struct.pack(">i", 1) + struct.pack(">iqi", 0, 42, -1) + struct.pack(">h", -1)
    yield "offset_fetch_v5", header(9, 5) + s("group") + struct.pack(">i", -1)
    yield "create_topics_v4", header(19, 4) + struct.pack(">i", 1) + s("orders") + struct.pack(">ih", 3, 1) + struct.pack(">ii", 0, 0) + struct.pack(">ib", 1000, 0)
    yield "init_producer_id_v1", header(22, 1) + struct.pack(">hi", -1, 60000)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, frame in frames():
        (OUT / name).write_bytes(frame)
    print(f"wrote {len(list(OUT.iterdir()))} seeds to {OUT}")
