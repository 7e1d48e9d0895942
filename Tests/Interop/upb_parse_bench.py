"""Times protobuf's C parser (upb) on one ExportTraceServiceRequest file.

    python upb_parse_bench.py FILE --seconds S

Prints one JSON line: {"backend":"upb","bytes":N,"spans":M,"seconds_per_parse":X}.
`make bench` (causeway bench) runs it on the same bytes it decodes itself.
"""

import argparse
import json
import sys
import time

from google.protobuf.internal import api_implementation
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="a serialized ExportTraceServiceRequest")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long to measure (default 2)")
    args = parser.parse_args()

    backend = api_implementation.Type()
    if backend != "upb":
        sys.exit(f"upb_parse_bench: protobuf backend is {backend!r}, not 'upb'; the figure would not be upb's")

    with open(args.file, "rb") as file:
        data = file.read()

    message_class = trace_service_pb2.ExportTraceServiceRequest
    check = message_class()
    check.ParseFromString(data)
    spans = sum(len(ss.spans) for rs in check.resource_spans for ss in rs.scope_spans)

    def parse():
        message_class().ParseFromString(data)

    # Warm-up: about a tenth of the measuring time, at least a few parses.
    deadline = time.perf_counter() + max(args.seconds / 10, 0.05)
    warm = 0
    while warm < 3 or time.perf_counter() < deadline:
        parse()
        warm += 1

    # Measure in batches so the clock is read rarely compared to the parse itself.
    batch = max(1, warm // 10)
    parses = 0
    start = time.perf_counter()
    end = start + args.seconds
    now = start
    while now < end:
        for _ in range(batch):
            parse()
        parses += batch
        now = time.perf_counter()

    print(json.dumps({
        "backend": backend,
        "bytes": len(data),
        "spans": spans,
        "seconds_per_parse": (now - start) / parses,
    }, separators=(",", ":")))


if __name__ == "__main__":
    main()
