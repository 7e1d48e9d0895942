"""causeway convert as a command: files instead of pipes."""

import subprocess

import samples
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2


def test_convert_reads_input_and_writes_output_files(causeway, tmp_path):
    original = samples.full_logs_request()
    source = tmp_path / "logs.pb"
    json_file = tmp_path / "logs.json"
    back = tmp_path / "back.pb"
    source.write_bytes(original.SerializeToString())
    for args in (
        ["--from", "otlp-proto", "--to", "otlp-json", "--input", str(source), "--output", str(json_file)],
        ["--from", "otlp-json", "--to", "otlp-proto", "--input", str(json_file), "--output", str(back)],
    ):
        result = subprocess.run([str(causeway), "convert", "--kind", "logs", *args], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == b""
    samples.assert_same_meaning(original, logs_service_pb2.ExportLogsServiceRequest.FromString(back.read_bytes()))


def test_convert_reports_a_missing_input_file(causeway, tmp_path):
    missing = tmp_path / "nope.pb"
    result = subprocess.run(
        [str(causeway), "convert", "--from", "otlp-proto", "--to", "otlp-json", "--input", str(missing)],
        capture_output=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.decode().startswith(f"causeway convert: cannot read {missing}")
