"""Fixtures for the interop tests: the causeway binary and the shared spec folder."""

import os
import pathlib
import subprocess

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def causeway_bin():
    path = pathlib.Path(os.environ.get("CAUSEWAY_BIN", ".build/debug/causeway"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


@pytest.fixture(scope="session")
def causeway():
    path = causeway_bin()
    if not path.is_file():
        pytest.fail(f"causeway binary not found at {path}: build it (make build) or set CAUSEWAY_BIN")
    return path


class Convert:
    """Runs `causeway convert` on bytes."""

    def __init__(self, binary):
        self.binary = binary

    def run(self, data, *, source, target, kind="traces"):
        return subprocess.run(
            [str(self.binary), "convert", "--from", source, "--to", target, "--kind", kind],
            input=data,
            capture_output=True,
            timeout=60,
        )

    def __call__(self, data, *, source, target, kind="traces"):
        result = self.run(data, source=source, target=target, kind=kind)
        assert result.returncode == 0, (
            f"causeway convert --from {source} --to {target} --kind {kind} exited "
            f"{result.returncode}: {result.stderr.decode(errors='replace')}"
        )
        return result.stdout


@pytest.fixture(scope="session")
def convert(causeway):
    return Convert(causeway)


@pytest.fixture(scope="session")
def zipkin_spec_path():
    # CI clones the repository into another folder and puts shared/ beside it.
    path = REPO_ROOT.parent / "shared" / "spec" / "zipkin2-api.yaml"
    if not path.is_file():
        pytest.fail(f"Zipkin v2 API spec not found at {path} (expected shared/ beside the repository)")
    return path
