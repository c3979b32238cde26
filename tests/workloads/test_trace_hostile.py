"""Hostile trace files: values a load cannot have, members that are not arrays, headers that
lie, JSON nested without end or followed by garbage, huge CSV fields, empty files, FIFOs and
devices. Each is an input error with an exact message, before any policy runs."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

from adrs_spec.errors import InputError
from adrs_spec.compile import compile_file
from adrs_spec.validate_run import load_trace


@pytest.fixture
def eplb(small_eplb):
    spec = compile_file(str(small_eplb))
    return spec, spec.workloads[0]


def trace_error(path, eplb, window: int = 1) -> str:
    spec, workload = eplb
    with pytest.raises(InputError) as info:
        load_trace(str(path), window, spec, workload)
    return str(info.value)


LOAD = np.full((4, 3, 16), 10.0)


def with_value(at, value):
    load = LOAD.copy()
    load[at] = value
    return load


@pytest.mark.parametrize("load, message", [
    (with_value((1, 2, 3), np.nan), "the value at [1, 2, 3] is nan: it is not a finite number"),
    (with_value((0, 0, 5), -np.inf), "the value at [0, 0, 5] is -inf: it is not a finite number"),
    (with_value((2, 1, 0), -1.0), "the value at [2, 1, 0] is -1.0: it is negative; a trace holds loads "
                                  "(token counts), which are >= 0"),
    (with_value((3, 0, 0), 1e39), "the value at [3, 0, 0] is 1e+39: it is beyond float32 (at most 3.403e+38), "
                                  "in which the evaluator computes; scale the trace down"),
    (with_value((0, 2, 2), 1e-40), "the value at [0, 2, 2] is 1e-40: it is subnormal in float32 (below "
                                   "1.175e-38), in which the evaluator computes; round it to 0 or scale the "
                                   "trace up"),
    (with_value((2,), 0.0), "window 2 (counting from 0) is all zeros; every window needs some load to be "
                            "scored on"),
    (np.zeros((0, 3, 16)), "the trace holds no values (shape (0, 3, 16))"),
])
def test_values_a_load_cannot_have(tmp_path, eplb, load, message):
    path = tmp_path / "t.npz"
    np.savez(path, load=load)
    assert trace_error(path, eplb) == f"{path}: {message}"


def test_the_same_values_in_json_and_csv(tmp_path, eplb):
    records = [[[1, 2] * 8] * 3, [[0] * 16] * 3, [[3, 4] * 8] * 3]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"load_history": records}))
    assert trace_error(path, eplb) == f"{path}: window 1 (counting from 0) is all zeros; every window needs " \
                                      f"some load to be scored on"
    csv = tmp_path / "t.csv"
    csv.write_text("a,b\n1,2\n3,-4\n")
    assert trace_error(csv, eplb) == f"{csv}: the value at [1, 1] is -4.0: it is negative; a trace holds loads " \
                                     f"(token counts), which are >= 0"


def test_an_npz_member_that_is_not_an_array(tmp_path, eplb):
    path = tmp_path / "t.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert trace_error(path, eplb) == f"{path}: member `notes.txt` is not a numpy array (.npy); save traces with " \
                                      f"numpy.savez"


def test_an_npz_header_declaring_a_huge_shape(tmp_path, eplb):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10 ** 11, 16)})
    path = tmp_path / "t.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("load.npy", header.getvalue() + b"\0" * 64)
    assert trace_error(path, eplb) == (
        f"{path}: member `load.npy`: its header declares shape (100000000000, 16) (12800000000000 bytes of "
        f"float64), but it holds 64 bytes of data; the file is damaged")


def test_json_nested_too_deeply(tmp_path, eplb):
    path = tmp_path / "t.json"
    path.write_text('{"load_history": [[[1, 2]], ' + "[" * 100_000 + "]" * 100_000 + "]}")
    assert trace_error(path, eplb) == (f"{path}: record 1 of load_history (counting from 0) is not valid JSON: "
                                       f"it is nested too deeply (lists of lists of lists ...)")


def test_json_with_garbage_after_the_object(tmp_path, eplb):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"load_history": [[[1, 2] * 8] * 3] * 4, "model": "m"}) + " trailing {")
    assert trace_error(path, eplb) == (f"{path}: after `load_history`: data follows the end of the top-level "
                                       f"object ('trailing {{'); give one JSON object")


def test_a_huge_csv_field(tmp_path, eplb):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1," + "9" * 200_000 + "\n")
    assert trace_error(path, eplb) == (f"{path}: line 2: not a CSV of numbers (field larger than field limit "
                                       f"(131072)); give one number per field")


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_an_empty_file(tmp_path, eplb, suffix):
    path = tmp_path / f"t{suffix}"
    path.write_bytes(b"")
    assert trace_error(path, eplb) == f"{path}: the file is empty; give a trace file (.json, .npz or .csv)"


def test_a_fifo_is_refused_without_opening_it(tmp_path, eplb):
    path = tmp_path / "t.json"
    os.mkfifo(path)          # opening it would wait for a writer forever
    assert trace_error(path, eplb) == (f"{path}: is a FIFO (named pipe), not a file; give the path of a trace "
                                       f"file (.json, .npz or .csv)")


def test_a_device_is_refused(tmp_path, eplb):
    path = tmp_path / "zero.npz"
    os.symlink("/dev/zero", path)      # reading it never ends
    assert trace_error(path, eplb) == (f"{path}: is a character device, not a file; give the path of a trace "
                                       f"file (.json, .npz or .csv)")
