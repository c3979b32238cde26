"""Trace files: .npz, .csv and the streamed vLLM expert-load JSON reader."""
import json

import numpy as np
import pytest

from adrs_spec.errors import InputError
from adrs_spec.workloads import traces
from adrs_spec.workloads.traces import load_csv, load_npz, load_vllm_expert_load, read_vllm_expert_load


def error_of(fn, *args, **kwargs) -> str:
    with pytest.raises(InputError) as err:
        fn(*args, **kwargs)
    return str(err.value)


# ---- npz ----

def test_npz_single_array(tmp_path):
    path = tmp_path / "one.npz"
    np.savez(path, load=np.arange(6, dtype=np.int32).reshape(2, 3))
    out = load_npz(str(path))
    assert out.dtype == np.float64 and np.array_equal(out, [[0, 1, 2], [3, 4, 5]])


def test_npz_several_arrays_need_a_key(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=np.zeros(2), b=np.ones(3))
    assert error_of(load_npz, str(path)) == f"{path}: holds 2 arrays (a, b); name the one to use"
    assert np.array_equal(load_npz(str(path), key="b"), np.ones(3))
    assert error_of(load_npz, str(path), key="c") == f"{path}: no array `c`; the arrays are a, b"


def test_npz_not_an_archive(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_text("hello")
    assert error_of(load_npz, str(path)).startswith(f"{path}: not a readable .npz file")


def test_npz_non_numeric(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, names=np.array(["a", "b"]))
    assert error_of(load_npz, str(path)) == f"{path}: array `names` has dtype <U1; a trace holds numbers"


# ---- csv ----

def test_csv_with_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a, b, c\n1, 2, 3.5\n\n4, 5, 6\n")
    assert np.array_equal(load_csv(str(path)), [[1, 2, 3.5], [4, 5, 6]])


def test_csv_without_header_and_one_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("10\n20\n30\n")
    out = load_csv(str(path))
    assert out.shape == (3,) and np.array_equal(out, [10, 20, 30])


def test_csv_bad_cell_names_line_and_column(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,x\n")
    assert error_of(load_csv, str(path)) == (f"{path}: line 3, column 2: 'x' is not a finite number; every "
                                             f"cell after the header must be one")


def test_csv_ragged_and_empty(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("1,2\n3\n")
    assert error_of(load_csv, str(path)) == (f"{path}: line 2 has 1 column(s), but the first record has 2; "
                                             f"give every record the same columns")
    path.write_text("a,b\n")
    assert error_of(load_csv, str(path)) == f"{path}: no records; give one row of numbers per record"


# ---- vLLM expert-load JSON ----

def records(n, layers=2, experts=4):
    """Record i has entry [l][e] = i + 10 * l + e: window sums are easy to check exactly."""
    base = 10 * np.arange(layers)[:, None] + np.arange(experts)[None, :]
    return [(base + i).tolist() for i in range(n)]


def write(path, obj):
    path.write_text(json.dumps(obj))
    return str(path)


def expected_windows(n_windows, window, layers=2, experts=4):
    base = 10 * np.arange(layers)[:, None] + np.arange(experts)[None, :]
    return np.stack([window * base + sum(range(w * window, (w + 1) * window)) for w in range(n_windows)])


def test_vllm_window_sums_score_or_drop_the_partial_window(tmp_path):
    path = write(tmp_path / "load.json", {"meta": {"model": "x", "ids": [1, 2]}, "load_history": records(250),
                                          "after": 1})
    dropped, leftover = read_vllm_expert_load(path, window=100, partial="drop")
    assert dropped.shape == (2, 2, 4) and dropped.dtype == np.float64 and leftover == 50
    assert np.array_equal(dropped, expected_windows(2, 100))
    scored = load_vllm_expert_load(path, window=100)          # the default, as the public evaluator
    base = 10 * np.arange(2)[:, None] + np.arange(4)[None, :]
    assert np.array_equal(scored, np.concatenate([dropped, (50 * base + sum(range(200, 250)))[None]]))
    whole, leftover = read_vllm_expert_load(write(tmp_path / "whole.json", {"load_history": records(200)}))
    assert leftover == 0 and np.array_equal(whole, expected_windows(2, 100))


def test_a_partial_window_does_not_count_towards_two_when_dropped(tmp_path):
    path = write(tmp_path / "load.json", {"load_history": records(150)})
    assert load_vllm_expert_load(path, window=100).shape == (2, 2, 4)
    assert error_of(load_vllm_expert_load, path, window=100, partial="drop") == (
        f"{path}: 150 records with 100 per window make 1 full window(s); at least 2 are needed (one observed, "
        f"one scored): record more forward passes or lower the window")


def test_vllm_records_as_objects(tmp_path):
    history = [{"logical_expert_load": r} for r in records(6)]
    out = load_vllm_expert_load(write(tmp_path / "load.json", {"load_history": history}), window=3)
    assert np.array_equal(out, expected_windows(2, 3))
    history = [{"step": i, "expert_load": r} for i, r in enumerate(records(4))]
    out = load_vllm_expert_load(write(tmp_path / "load2.json", {"load_history": history}), window=2)
    assert np.array_equal(out, expected_windows(2, 2))


def test_vllm_small_chunks_give_the_same_result(tmp_path, monkeypatch):
    path = write(tmp_path / "load.json", {"version": 1234567890123, "tag": "abcdefghijklmnop",
                                          "load_history": records(40, 3, 5)})
    whole = load_vllm_expert_load(path, window=10)
    monkeypatch.setattr(traces, "CHUNK_CHARS", 7)          # records and numbers cut across chunks
    assert np.array_equal(load_vllm_expert_load(path, window=10), whole)
    assert np.array_equal(whole, expected_windows(4, 10, 3, 5))


def test_vllm_record_with_another_shape(tmp_path):
    history = records(250)
    history[7] = [[1, 2, 3]]
    path = write(tmp_path / "load.json", {"load_history": history})
    assert error_of(load_vllm_expert_load, path) == (
        f"{path}: record 7 of load_history (counting from 0) has 1 layers x 3 experts, but record 0 has 2 x 4; "
        f"every record must have the same shape")


def test_vllm_record_that_is_not_json(tmp_path):
    text = json.dumps({"load_history": records(250)})
    bad = text.replace("[[7, 8, 9, 10], [17, 18, 19, 20]]", "[[7, 8, oops, 10], [17, 18, 19, 20]]")
    assert bad != text
    path = tmp_path / "load.json"
    path.write_text(bad)
    message = error_of(load_vllm_expert_load, str(path))
    assert message.startswith(f"{path}: record 7 of load_history (counting from 0) is not valid JSON: ")


@pytest.mark.parametrize("record, message", [
    ([[1, -2, 3, 4], [0, 0, 0, 0]], "record 7 of load_history (counting from 0): entry [0, 1] is -2.0; "
                                    "token counts must be finite and >= 0"),
    ([[1, "a", 3, 4], [0, 0, 0, 0]], "record 7 of load_history (counting from 0) has shape (2, 4) of "
                                     "non-numeric values (<U21); each record must be a non-empty "
                                     "[layers][experts] list of token counts"),
    ([[1, 2], [3]], "record 7 of load_history (counting from 0) is ragged: its layers do not all have "
                    "the same number of experts"),
    ({"other": [[1]]}, "record 7 of load_history (counting from 0) is an object without a logical_expert_load "
                       "/ load / expert_load / expert_load_pass / loads key (its keys: other)"),
])
def test_vllm_bad_record_values(tmp_path, record, message):
    history = records(250)
    history[7] = record
    path = write(tmp_path / "load.json", {"load_history": history})
    assert error_of(load_vllm_expert_load, path) == f"{path}: {message}"


def test_vllm_truncated_file(tmp_path):
    text = json.dumps({"load_history": records(250)})
    path = tmp_path / "load.json"
    path.write_text(text[: text.index("[[200, 201, 202") + 9])          # inside record 200
    message = error_of(load_vllm_expert_load, str(path))
    assert message == (f"{path}: the file ends inside `load_history` at record 200 (counting from 0); the file "
                       f"looks truncated: copy it again")
    path.write_text(text[: text.index("[[200, 201, 202") - 1])          # after the comma of record 199
    assert "ends inside `load_history` at record 200 (counting from 0)" in error_of(load_vllm_expert_load, str(path))


def test_vllm_not_json_and_no_history(tmp_path):
    path = tmp_path / "load.json"
    path.write_text("hello")
    assert error_of(load_vllm_expert_load, str(path)) == (
        f"{path}: not a vLLM expert-load file: it should be a JSON object with a `load_history` list, "
        f"but it starts with 'h'")
    path = write(tmp_path / "other.json", {"foo": 1, "bar": [1, 2]})
    assert error_of(load_vllm_expert_load, path) == (
        f"{path}: no `load_history` key (the top-level keys are foo, bar); record the expert load with "
        f"vLLM's expert-load logging")


def test_vllm_too_few_windows(tmp_path):
    path = write(tmp_path / "load.json", {"load_history": records(99)})
    assert error_of(load_vllm_expert_load, path, window=100) == (
        f"{path}: 99 records with 100 per window make 1 window(s); at least 2 are needed (one observed, "
        f"one scored): record more forward passes or lower the window")
    assert load_vllm_expert_load(path, window=50).shape == (2, 2, 4)


def test_vllm_bad_last_record_is_not_called_truncated(tmp_path):
    path = tmp_path / "load.json"
    path.write_text(json.dumps({"load_history": records(20)})[:-3] + ", x]]}")
    message = error_of(load_vllm_expert_load, str(path), window=5)
    assert message.startswith(f"{path}: record 19 of load_history (counting from 0) is not valid JSON: ")
