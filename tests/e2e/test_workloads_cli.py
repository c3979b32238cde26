"""`adrs-spec workloads`: every set on disk, reproducible to the byte, with a checked manifest."""
import hashlib
import json
import os

import numpy as np

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
