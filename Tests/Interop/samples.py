"""OTLP messages built with the official opentelemetry-proto package, with every field set.

Shared by the interop tests and make_fuzz_corpus.py.
"""

from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1

UNICODE = "héllo wörld — 日本語 🌍 \u0000 tab\t quote\" backslash\\ \u2028"

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("0123456789abcdef")
LINK_TRACE_ID = bytes.fromhex("ffffffffffffffffffffffffffffff01")
LINK_SPAN_ID = bytes.fromhex("8000000000000001")


def kv(key, value):
    return common_pb2.KeyValue(key=key, value=value)


def every_any_value(depth=2):
    """One KeyValue per AnyValue kind, containers nesting every kind again."""
    scalars = [
        kv("string", common_pb2.AnyValue(string_value="text")),
        kv("string.empty", common_pb2.AnyValue(string_value="")),
        kv("string.unicode", common_pb2.AnyValue(string_value=UNICODE)),
        kv("bool.true", common_pb2.AnyValue(bool_value=True)),
        kv("bool.false", common_pb2.AnyValue(bool_value=False)),
        kv("int.zero", common_pb2.AnyValue(int_value=0)),
        kv("int.max", common_pb2.AnyValue(int_value=INT64_MAX)),
        kv("int.min", common_pb2.AnyValue(int_value=INT64_MIN)),
        kv("int.negative", common_pb2.AnyValue(int_value=-1)),
        kv("double", common_pb2.AnyValue(double_value=3.141592653589793)),
        kv("double.zero", common_pb2.AnyValue(double_value=0.0)),
        kv("double.huge", common_pb2.AnyValue(double_value=1.7976931348623157e308)),
        kv("double.tiny", common_pb2.AnyValue(double_value=5e-324)),
        kv("double.negative", common_pb2.AnyValue(double_value=-2.5e-7)),
        kv("double.integral", common_pb2.AnyValue(double_value=1e21)),
        kv("bytes", common_pb2.AnyValue(bytes_value=bytes(range(256)))),
        kv("bytes.empty", common_pb2.AnyValue(bytes_value=b"")),
        kv("empty", common_pb2.AnyValue()),
        kv("", common_pb2.AnyValue(string_value="empty key")),
    ]
    if depth == 0:
        return scalars
    nested = every_any_value(depth - 1)
    array = common_pb2.AnyValue(
        array_value=common_pb2.ArrayValue(values=[item.value for item in nested])
    )
    kvlist = common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=nested))
    return scalars + [
        kv("array", array),
        kv("array.empty", common_pb2.AnyValue(array_value=common_pb2.ArrayValue())),
        kv("kvlist", kvlist),
        kv("kvlist.empty", common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList())),
        kv("array.of.arrays", common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[array, kvlist]))),
    ]


def resource(service="checkout"):
    return resource_pb2.Resource(
        attributes=[kv("service.name", common_pb2.AnyValue(string_value=service))] + every_any_value(1),
        dropped_attributes_count=7,
    )


def scope():
    return common_pb2.InstrumentationScope(
        name="io.causeway.interop",
        version="1.2.3-β",
        attributes=[kv("scope.attr", common_pb2.AnyValue(int_value=42))],
        dropped_attributes_count=2,
    )


def full_span():
    return trace_pb2.Span(
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        trace_state="vendor=abc,other=x:y",
        parent_span_id=PARENT_ID,
        flags=0x301,
        name="process order_events " + UNICODE,
        kind=trace_pb2.Span.SPAN_KIND_CONSUMER,
        start_time_unix_nano=1_700_000_000_123_456_789,
        end_time_unix_nano=1_700_000_001_987_654_321,
        attributes=every_any_value(2),
        dropped_attributes_count=UINT32_MAX,
        events=[
            trace_pb2.Span.Event(
                time_unix_nano=1_700_000_000_500_000_000,
                name="exception",
                attributes=[
                    kv("exception.type", common_pb2.AnyValue(string_value="ValueError")),
                    kv("exception.count", common_pb2.AnyValue(int_value=INT64_MIN)),
                ],
                dropped_attributes_count=1,
            ),
            trace_pb2.Span.Event(time_unix_nano=1_700_000_000_600_000_000, name="retry"),
            trace_pb2.Span.Event(),
        ],
        dropped_events_count=3,
        links=[
            trace_pb2.Span.Link(
                trace_id=LINK_TRACE_ID,
                span_id=LINK_SPAN_ID,
                trace_state="congo=t61rcWkgMzE",
                attributes=[kv("messaging.message.id", common_pb2.AnyValue(string_value="m-1"))],
                dropped_attributes_count=4,
                flags=0x101,
            ),
            trace_pb2.Span.Link(trace_id=TRACE_ID, span_id=PARENT_ID),
        ],
        dropped_links_count=5,
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message="payment declined"),
    )


def plain_spans():
    """One span of every kind and status code, with the simpler shapes a tracer sends."""
    spans = []
    for kind in range(6):
        spans.append(
            trace_pb2.Span(
                trace_id=bytes([kind + 1] * 16),
                span_id=bytes([kind + 1] * 8),
                name=f"span-{kind}",
                kind=kind,
                start_time_unix_nano=1_000 * (kind + 1),
                end_time_unix_nano=1_000 * (kind + 1) + 999,
                status=trace_pb2.Status(code=kind % 3),
                attributes=[kv("http.response.status_code", common_pb2.AnyValue(int_value=200 + kind))],
            )
        )
    # The extremes of the fixed64 times.
    spans.append(
        trace_pb2.Span(
            trace_id=bytes([0xAB] * 16),
            span_id=bytes([0xCD] * 8),
            name="extreme times",
            kind=trace_pb2.Span.SPAN_KIND_INTERNAL,
            start_time_unix_nano=0,
            end_time_unix_nano=UINT64_MAX,
        )
    )
    return spans


def full_trace_request():
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource(),
                scope_spans=[
                    trace_pb2.ScopeSpans(
                        scope=scope(),
                        spans=[full_span()],
                        schema_url="https://opentelemetry.io/schemas/1.26.0",
                    ),
                    trace_pb2.ScopeSpans(spans=plain_spans()),
                ],
                schema_url="https://opentelemetry.io/schemas/1.24.0",
            ),
            # No resource and no scope at all: both must stay absent.
            trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=[plain_spans()[2]])]),
            trace_pb2.ResourceSpans(resource=resource("inventory"), scope_spans=[]),
        ]
    )


def full_log_record():
    return logs_pb2.LogRecord(
        time_unix_nano=1_700_000_000_123_456_789,
        observed_time_unix_nano=1_700_000_000_223_456_789,
        severity_number=logs_pb2.SEVERITY_NUMBER_INFO2,
        severity_text="INFO2",
        body=common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=every_any_value(2))),
        attributes=every_any_value(1),
        dropped_attributes_count=9,
        flags=1,
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        event_name="order.placed",
    )


def plain_log_records():
    records = [
        logs_pb2.LogRecord(
            time_unix_nano=1,
            severity_number=severity,
            severity_text=logs_pb2.SeverityNumber.Name(severity),
            body=common_pb2.AnyValue(string_value=f"message {severity} {UNICODE}"),
        )
        for severity in (0, 1, 5, 9, 13, 17, 21, 24)
    ]
    records.append(logs_pb2.LogRecord(observed_time_unix_nano=UINT64_MAX))  # no body at all
    records.append(logs_pb2.LogRecord(body=common_pb2.AnyValue(bytes_value=b"\x00\x01\xfe\xff")))
    records.append(
        logs_pb2.LogRecord(
            body=common_pb2.AnyValue(
                array_value=common_pb2.ArrayValue(
                    values=[common_pb2.AnyValue(int_value=1), common_pb2.AnyValue(double_value=-0.5)]
                )
            )
        )
    )
    records.append(logs_pb2.LogRecord(body=common_pb2.AnyValue()))  # a body with no value set
    return records


def full_logs_request():
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource=resource(),
                scope_logs=[
                    logs_pb2.ScopeLogs(
                        scope=scope(),
                        log_records=[full_log_record()],
                        schema_url="https://opentelemetry.io/schemas/1.26.0",
                    ),
                    logs_pb2.ScopeLogs(log_records=plain_log_records()),
                ],
                schema_url="https://opentelemetry.io/schemas/1.24.0",
            ),
            logs_pb2.ResourceLogs(scope_logs=[logs_pb2.ScopeLogs(log_records=[plain_log_records()[0]])]),
        ]
    )


def trace_response():
    return trace_service_pb2.ExportTraceServiceResponse(
        partial_success=trace_service_pb2.ExportTracePartialSuccess(
            rejected_spans=INT64_MAX, error_message="3 spans had an all-zero trace ID — dropped"
        )
    )


def logs_response():
    return logs_service_pb2.ExportLogsServiceResponse(
        partial_success=logs_service_pb2.ExportLogsPartialSuccess(
            rejected_log_records=12, error_message="body too deep"
        )
    )


def rpc_status(with_details=True):
    status = status_pb2.Status(code=3, message="resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 16 bytes")
    if with_details:
        info = any_pb2.Any()
        info.Pack(error_details_pb2.ErrorInfo(reason="INVALID_TRACE_ID", domain="causeway.io", metadata={"k": "v"}))
        retry = any_pb2.Any()
        retry.Pack(error_details_pb2.RetryInfo())
        status.details.extend([info, retry])
    return status


# (convert --kind, the message class, a builder of a message with every field set)
KINDS = {
    "traces": (trace_service_pb2.ExportTraceServiceRequest, full_trace_request),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, full_logs_request),
    "traces-response": (trace_service_pb2.ExportTraceServiceResponse, trace_response),
    "logs-response": (logs_service_pb2.ExportLogsServiceResponse, logs_response),
    "status": (status_pb2.Status, rpc_status),
}


def differences(expected, got, path=""):
    """Paths where two messages differ, with both values: readable failure messages."""
    from google.protobuf.descriptor import FieldDescriptor

    found = []
    for field in expected.DESCRIPTOR.fields:
        name = f"{path}.{field.name}" if path else field.name
        left, right = getattr(expected, field.name), getattr(got, field.name)
        if field.is_repeated:
            if len(left) != len(right):
                found.append(f"{name}: {len(left)} items expected, got {len(right)}")
                continue
            for index, (a, b) in enumerate(zip(left, right)):
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    found += differences(a, b, f"{name}[{index}]")
                elif a != b:
                    found.append(f"{name}[{index}]: expected {a!r}, got {b!r}")
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.containing_oneof is None or expected.WhichOneof(field.containing_oneof.name) == field.name:
                if expected.HasField(field.name) != got.HasField(field.name):
                    found.append(f"{name}: present expected {expected.HasField(field.name)}, got {got.HasField(field.name)}")
                else:
                    found += differences(left, right, name)
        elif field.containing_oneof is not None and expected.WhichOneof(field.containing_oneof.name) != got.WhichOneof(field.containing_oneof.name):
            if field.name == expected.WhichOneof(field.containing_oneof.name):
                found.append(f"{name}: expected {left!r}, got oneof {got.WhichOneof(field.containing_oneof.name)!r}")
        elif left != right:
            found.append(f"{name}: expected {left!r}, got {right!r}")
    return found


def assert_same(expected, got):
    """Asserts equality, listing the first differing fields when not equal."""
    if expected != got:
        found = differences(expected, got)
        raise AssertionError("messages differ:\n  " + "\n  ".join(found[:20] or ["(no field-level difference found)"]))


def without_empty_presence(message):
    """A copy with the empty sub-messages that the Telemetry model cannot tell from absent
    ones cleared: a KeyValue's `value` holding an AnyValue with nothing set, and a Span's
    `status` with code UNSET and no message. OTLP gives both the same meaning as absent;
    test_protobuf_keeps_presence_of_empty_submessages checks the presence itself."""
    copy = type(message)()
    copy.CopyFrom(message)
    _clear_empty_presence(copy)
    return copy


def _clear_empty_presence(message):
    name = message.DESCRIPTOR.full_name
    if name == "opentelemetry.proto.common.v1.KeyValue" and message.HasField("value") and message.value.ByteSize() == 0:
        message.ClearField("value")
    if name == "opentelemetry.proto.trace.v1.Span" and message.HasField("status") and message.status.ByteSize() == 0:
        message.ClearField("status")
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if field.is_repeated:
            if field.message_type.GetOptions().map_entry:
                continue
            for item in value:
                _clear_empty_presence(item)
        else:
            _clear_empty_presence(value)


def assert_same_meaning(expected, got):
    """assert_same, blind only to the presence differences without_empty_presence clears."""
    assert_same(without_empty_presence(expected), without_empty_presence(got))
