"""Trace files for workloads that draw several traces: an .npz with one array per trace (and
0-d arrays for params), or a folder with one file per trace."""
import os

import numpy as np
import pytest

from adrs_spec.errors import InputError
from adrs_spec.compile import compile_file
from adrs_spec.validate_run import workload_sets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = np.array([10.0, 20, 30, 12, 14, 16])
RATE = np.array([1.0, 2, 3, 4, 5, 6])
SLO = np.array([5.0, 6, 7, 8, 9, 5])


@pytest.fixture(scope="module")
def placement():
    return compile_file(os.path.join(ROOT, "specs/placement.adrs"))


def sets_from(spec, path):
    return workload_sets(spec, False, (), str(path), 100, 0)


def test_an_archive_with_one_array_per_trace_and_a_param(placement, tmp_path):
    np.savez(tmp_path / "case.npz", size=SIZE, req_rate=RATE, slo=SLO, gpus=np.array(3))
    (train,), notes = sets_from(placement, tmp_path / "case.npz")
    (group,) = train.groups
    assert (train.name, group.params["gpus"], group.params["models"], notes) == ("case.npz", 3, 6, [])
    assert [group.fields[n][0].tolist() for n in ("size", "req_rate", "slo")] == [SIZE.tolist(), RATE.tolist(),
                                                                                  SLO.tolist()]


def test_a_folder_with_one_file_per_trace(placement, tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    np.savez(folder / "size.npz", SIZE)
    np.savetxt(folder / "req_rate.csv", RATE, delimiter=",")
    np.savez(folder / "slo.npz", values=SLO)
    (train,), _ = sets_from(placement, folder)
    (group,) = train.groups
    assert train.name == "case" and group.params["models"] == 6
    assert group.fields["req_rate"][0].tolist() == RATE.tolist()


@pytest.mark.parametrize("arrays, message", [
    ({"size": SIZE, "req_rate": RATE}, "no array for trace(s) slo of workload `scenarios`; the arrays are size, "
                                       "req_rate"),
    ({"size": SIZE, "req_rate": RATE, "slo": SLO, "memory_gb": np.array(80)},
     "array `memory_gb` is neither a trace of workload `scenarios` (size, req_rate, slo) nor one of its params or "
     "values (gpus, models, memory)"),
    ({"size": SIZE, "req_rate": RATE, "slo": SLO, "gpus": np.array([3, 4])},
     "`gpus` is a value of the workload; store it as a single number (a 0-d array), not shape (2,)"),
    ({"size": SIZE, "req_rate": RATE, "slo": SLO, "gpus": np.array(2.5)},
     "`gpus` = 2.5 in the trace file is not a whole number; `gpus` is an int"),
    ({"size": SIZE, "req_rate": RATE[:5], "slo": SLO},
     "trace `req_rate` has 5 along `models`, but trace `size` has 6; the traces must agree"),
    ({"size": SIZE, "req_rate": RATE, "slo": np.array([5.0, 6, np.inf, 8, 9, 5])},
     "the value at [2] is inf: it is not a finite number"),
])
def test_archive_problems_are_input_errors(placement, tmp_path, arrays, message):
    np.savez(tmp_path / "case.npz", **arrays)
    with pytest.raises(InputError) as caught:
        sets_from(placement, tmp_path / "case.npz")
    assert message in str(caught.value)


def test_a_folder_needs_exactly_one_file_per_trace(placement, tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    np.savez(folder / "size.npz", SIZE)
    np.savetxt(folder / "size.csv", SIZE)
    with pytest.raises(InputError) as caught:
        sets_from(placement, folder)
    assert str(caught.value) == (f"{folder}: 2 files (size.npz, size.csv) for trace `size`; give exactly one of "
                                 f"size.npz, size.csv, size.json")
    os.remove(folder / "size.csv")
    with pytest.raises(InputError) as caught:
        sets_from(placement, folder)
    assert str(caught.value) == (f"{folder}: no file for trace `req_rate`; give exactly one of req_rate.npz, "
                                 f"req_rate.csv, req_rate.json")


def test_a_single_file_for_a_workload_of_several_traces_says_what_to_give(placement, tmp_path):
    np.savetxt(tmp_path / "size.csv", SIZE)
    with pytest.raises(InputError) as caught:
        sets_from(placement, tmp_path / "size.csv")
    assert str(caught.value) == (f"{tmp_path / 'size.csv'}: workload `scenarios` draws 3 traces (size, req_rate, "
                                 f"slo); give a .npz with one array per trace, named like it, or a folder with one "
                                 f"file per trace")
