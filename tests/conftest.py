"""Small real specs shared by the backend and end-to-end tests."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The shipped EPLB spec at a small shape: same invariants, metrics and workloads.
SMALL_EPLB = {
    "param layers: int = 58": "param layers: int = 3",
    "param experts: int = 256": "param experts: int = 16",
    "param replicas: int = 288": "param replicas: int = 24",
    "param groups: int = 8": "param groups: int = 4",
    "param nodes: int = 4": "param nodes: int = 2",
    "param gpus: int = 32": "param gpus: int = 4",
    "cases 4": "cases 1",
    "windows = 17": "windows = 5",
    "tokens = 819200": "tokens = 4096",
    "experts in {64, 128}, replicas in {80, 160},\n                                          layers = 8":
        "experts in {8, 16}, replicas in {16, 20}, layers = 2",
}


def small_eplb_text() -> str:
    text = open(os.path.join(ROOT, "specs/eplb.adrs")).read()
    for old, new in SMALL_EPLB.items():
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.fixture
def small_eplb(tmp_path):
    path = tmp_path / "eplb_small.adrs"
    path.write_text(small_eplb_text())
    return path


@pytest.fixture
def policies():
    return os.path.join(ROOT, "specs/eplb/policies")


def run_cli(*args, cwd=ROOT, timeout=240):
    """`adrs-spec ARGS` in a real subprocess: (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "adrs_spec.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    return proc.returncode, proc.stdout, proc.stderr
