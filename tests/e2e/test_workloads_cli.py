"""`adrs-spec workloads`: every set on disk, reproducible to the byte, with a checked manifest."""
import hashlib
import json
import os

import numpy as np
import pytest

from adrs_spec.workloads.store import read_sets
from conftest import run_cli


def files(folder) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_same_spec_and_seed_give_the_same_bytes(small_eplb, tmp_path):
    for out in ("a", "b", "c"):
        seed = "1" if out == "c" else "0"
        code, stdout, err = run_cli("workloads", str(small_eplb), "--out", str(tmp_path / out), "--seed", seed,
                                    cwd=tmp_path)
        assert code == 0, err
    a, b, c = (files(tmp_path / out) for out in ("a", "b", "c"))
    assert a == b
    assert sorted(a) == ["auto_boundary.npz", "auto_shapes.npz", "auto_shift.npz", "manifest.json",
                         "regime_shift.npz", "small_models.npz", "zipf_drift.npz"]
    assert a["zipf_drift.npz"] != c["zipf_drift.npz"]
    assert stdout.splitlines()[0] == f"wrote 6 workload sets for `eplb` to {tmp_path / 'c'}/ (seed 1)"

    manifest = json.loads(a["manifest.json"])
    assert manifest["seed"] == 0
    for entry in manifest["sets"]:
        assert entry["sha256"] == hashlib.sha256(a[entry["file"]]).hexdigest()
    kinds = {e["name"]: e["kind"] for e in manifest["sets"]}
    assert kinds == {"zipf_drift": "train", "regime_shift": "holdout", "small_models": "holdout",
                     "auto_shift": "holdout", "auto_shapes": "holdout", "auto_boundary": "holdout"}


def test_sets_read_back_as_written(small_eplb, tmp_path):
    code, _, err = run_cli("workloads", str(small_eplb), "--out", str(tmp_path / "w"), cwd=tmp_path)
    assert code == 0, err
    sets = {s.name: s for s in read_sets(str(tmp_path / "w"))}
    (group,) = sets["zipf_drift"].groups
    assert group.fields["weight"].shape == (4, 3, 16)
    assert np.array_equal(group.fields["weight"][1:], group.fields["next"][:-1])
    boundary = sets["auto_boundary"].groups[0]
    assert boundary.labels == ["empty_layer", "exact_ties", "huge_tokens", "one_hot_expert", "tiny_tokens"]


def test_a_spec_without_workloads_is_an_input_error(tmp_path):
    spec = tmp_path / "bare.adrs"
    spec.write_text('spec bare "bare"\nparam n: int = 2\npolicy f(n) -> y: int[n]\n')
    code, _, err = run_cli("workloads", str(spec), "--out", str(tmp_path / "w"), cwd=tmp_path)
    assert code == 2
    assert err.strip() == f"{spec}: the spec declares no `workload`; add one (see specs/eplb.adrs)"
    assert not (tmp_path / "w").exists()


TOY = ('spec toy "A toy"\nparam n: int = 4 in 1 .. 10\nparam k: int = 2\nlet half = n // k\n'
       'instance {\n  observe load: float[n] >= 0\n}\npolicy assign(load, k) -> slot: int[n]\n'
       'invariant in_range: forall i: 0 <= slot[i] < k\n'
       'workload w {\n  cases 3\n  m = half + 1\n  trace load: float[n] = uniform(low = 0.0, high = m)\n}\n'
       'holdout wide from w with n = 6\n')


def toy_spec(tmp_path):
    spec = tmp_path / "toy.adrs"
    spec.write_text(TOY)
    return spec


def test_eight_writers_into_one_folder_all_succeed(tmp_path):
    import subprocess
    import sys

    spec = toy_spec(tmp_path)
    assert run_cli("workloads", str(spec), "--out", str(tmp_path / "alone"), "--no-auto", cwd=tmp_path)[0] == 0
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, "-m", "adrs_spec.cli", "workloads", str(spec), "--out",
                               str(tmp_path / "same"), "--no-auto"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    results = [(p.wait(timeout=240), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    assert results == [(0, "")] * 8
    assert sorted(os.listdir(tmp_path)) == ["alone", "same", "toy.adrs"]       # no temporary folders
    assert files(tmp_path / "same") == files(tmp_path / "alone")              # no temporary files either
    assert oct(os.stat(tmp_path / "same").st_mode & 0o777) == oct(0o777 & ~current_umask())


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_other_files_in_the_folder_are_kept(tmp_path):
    spec = toy_spec(tmp_path)
    out = tmp_path / "out"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "todo.txt").write_text("keep me")
    (out / "README").write_text("mine")
    code, _, err = run_cli("workloads", str(spec), "--out", str(out), cwd=tmp_path)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["README", "auto_shapes.npz", "manifest.json", "notes", "w.npz", "wide.npz"]
    assert (out / "README").read_text() == "mine" and (out / "notes" / "todo.txt").read_text() == "keep me"
    # a second run without the automatic holdouts removes the sets the first one wrote, and only those
    code, _, err = run_cli("workloads", str(spec), "--out", str(out), "--no-auto", cwd=tmp_path)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["README", "manifest.json", "notes", "w.npz", "wide.npz"]


@pytest.mark.parametrize("name", ["w.npz", "manifest.json"])
def test_a_file_it_did_not_write_is_never_replaced(tmp_path, name):
    spec = toy_spec(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / name).write_text("not yours")
    code, stdout, err = run_cli("workloads", str(spec), "--out", str(out), "--no-auto", cwd=tmp_path)
    assert code == 2 and stdout == ""
    assert err == (f"error: {out / name} exists and was not written by `adrs-spec workloads`; move it away or "
                   f"choose another --out (nothing was written)\n")
    assert os.listdir(out) == [name] and (out / name).read_text() == "not yours"


def test_a_workload_too_big_to_draw_is_a_located_spec_error(tmp_path):
    from adrs_spec.workloads.build import format_bytes, memory_limit

    spec = tmp_path / "toy.adrs"
    spec.write_text(TOY.replace("cases 3\n", "cases 3\n  windows = 100000000000\n")
                    .replace("float[n] = uniform", "float[windows, n] = uniform")
                    .replace("\n}\nholdout", "\n  instances w in 0 .. windows: load = load[w]\n}\nholdout"))
    code, out, err = run_cli("workloads", str(spec), "--out", str(tmp_path / "w"), cwd=tmp_path)
    assert (code, out) == (1, "")
    assert err == (f"{spec}:10:1: error: workload `w` would need about 26.2 TiB of memory (3 case(s) of about "
                   f"8.7 TiB); the limit is {format_bytes(memory_limit())}\n"
                   "  workload w {\n"
                   "  ^^^^^^^^^^^^\n"
                   "  note: lower `cases`, or the sizes of the traces (`windows`, the params of their dimensions)\n")
    assert not (tmp_path / "w").exists()
