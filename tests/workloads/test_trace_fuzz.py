"""Fuzzing trace loading: damaged .json, .csv and .npz files never crash or hang the loader.
Every outcome is a checked array or an input error naming the file.

Each example runs under a wall-clock limit (an alarm: a hang fails the test instead of
stalling it); the number of examples is bounded so the file runs in seconds."""
import contextlib
import io
import json
import signal

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adrs_spec.errors import InputError
from adrs_spec.validate_run import load_trace

LIMIT_S = 20
FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def valid_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    records = rng.integers(0, 50, size=(6, 3, 16)).tolist()
    npz = io.BytesIO()
    np.savez_compressed(npz, load=rng.integers(1, 50, size=(5, 3, 16)).astype(np.float64))
    rows = "\n".join(",".join(str(v) for v in row) for row in rng.integers(1, 9, size=(6, 3)).tolist())
    return {".json": json.dumps({"load_history": records, "model": "m"}).encode(),
            ".csv": ("a,b,c\n" + rows + "\n").encode(), ".npz": npz.getvalue()}


VALID = valid_files()


@contextlib.contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise AssertionError(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def eplb():
    from conftest import small_eplb_text
    from adrs_spec.errors import Source
    from adrs_spec.compile import check_source

    spec = check_source(Source("eplb_small.adrs", small_eplb_text()))
    return spec, spec.workloads[0]


def load(path, eplb) -> None:
    spec, workload = eplb
    with time_limit(LIMIT_S):
        try:
            array = load_trace(str(path), 1, spec, workload)[0][workload.traces[0].name]
        except InputError as err:
            assert str(err).startswith(str(path) + ": ") or str(err).startswith("workload "), str(err)
            return
    assert array.dtype == np.float64 and np.isfinite(array).all() and (array >= 0).all()


EDITS = st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "swap", "byte"]), st.integers(0, 10 ** 9),
                           st.integers(1, 64), st.integers(0, 255)), min_size=1, max_size=6)


@FUZZ
@given(suffix=st.sampled_from(sorted(VALID)), edits=EDITS)
def test_damaged_trace_files(tmp_path, eplb, suffix, edits):
    data = bytearray(VALID[suffix])
    for kind, at, width, byte in edits:
        i = at % max(1, len(data))
        if kind == "delete":
            del data[i:i + width]
        elif kind == "duplicate":
            data[i:i] = data[i:i + width]
        elif kind == "swap":
            j = (i + at // max(1, len(data))) % max(1, len(data))
            data[i:i + width], data[j:j + width] = data[j:j + width], data[i:i + width]
        else:
            data[i:i + 1] = bytes([byte])
    path = tmp_path / f"trace{suffix}"
    path.write_bytes(bytes(data))
    load(path, eplb)


@FUZZ
@given(depth=st.integers(1, 200_000), where=st.sampled_from(["record", "key", "tail"]))
def test_deeply_nested_json(tmp_path, eplb, depth, where):
    nested = "[" * depth + "]" * depth
    text = {"record": '{"load_history": [' + nested + "]}",
            "key": '{"other": ' + nested + ', "load_history": []}',
            "tail": '{"load_history": [], "other": ' + nested + "}"}[where]
    path = tmp_path / "trace.json"
    path.write_text(text)
    load(path, eplb)


@FUZZ
@given(values=st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), min_size=1, max_size=96),
       rows=st.integers(1, 6))
def test_any_float_values(tmp_path, eplb, values, rows):
    array = np.resize(np.asarray(values), (rows, 3, 16))
    path = tmp_path / "trace.npz"
    np.savez(path, load=array)
    load(path, eplb)
