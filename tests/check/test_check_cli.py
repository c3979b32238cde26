"""`adrs-spec check` and the fast checks of `adrs-spec compile`, in real subprocesses:
exit codes, JSON, bad --size values, a spec compile refuses, and Ctrl-C."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from adrs_spec.checking import check_files
from adrs_spec.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROKEN = os.path.join(ROOT, "tests", "check", "broken")


def run(*args, cwd=ROOT, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "adrs_spec.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    return proc.returncode, proc.stdout, proc.stderr


def test_shipped_specs_pass_as_json():
    code, out, err = run("check", "specs/eplb.adrs", "specs/placement.adrs", "--json", "--timeout", "30")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True and [s["spec"] for s in report["specs"]] == ["eplb", "placement"]
    eplb = report["specs"][0]
    assert eplb["size"] == {"layers": 1, "experts": 3, "replicas": 4, "groups": 1, "nodes": 1, "gpus": 4}
    assert {c["verdict"] for c in eplb["checks"]} == {"PROVED"}
    claim = next(c for c in eplb["checks"] if c["subject"] == "every_token_served")
    assert claim["location"] == "specs/eplb.adrs:80:7"
    witness = next(c for c in eplb["checks"] if c["check"] == "consistency")["model"]
    assert len(witness["tensors"]["phy2log"][0]) == 4


def test_a_refuted_claim_exits_1_with_its_counterexample():
    code, out, err = run("check", os.path.relpath(os.path.join(BROKEN, "false_claim.adrs"), ROOT))
    assert code == 1, err
    assert ("  REFUTED  claim `every_bin_used` follows from the invariants  "
            "(tests/check/broken/false_claim.adrs:23:7, ") in out
    assert "           a counterexample: a valid output breaks it" in out
    assert out.splitlines()[-1].startswith("FAILED: tests/check/broken/false_claim.adrs: 8 checks at items = 4, "
                                           "bins = 3 (int outputs in -2 .. 5): 7 PROVED, 1 REFUTED in ")


@pytest.mark.parametrize("size, message", [
    ("experts=many", "--size: `experts` must be an integer, got `many`"),
    ("experts", "--size: `experts` is not `name=value`; write e.g. --size experts=8,gpus=2"),
    ("bogus=3", "--size: `bogus` is not an int param of `eplb`; the int params are "
                "experts, gpus, groups, layers, nodes, replicas"),
    ("layers=0", "--size: `layers` = 0 is outside its range 1 .. 129 (the upper end is excluded)"),
    ("experts=5,groups=2", "--size experts = 5, groups = 2: no values of the other params meet every "
                           "`require` of `eplb`; choose a size that does"),
])
def test_a_bad_size_is_an_input_error_naming_the_key(size, message):
    with pytest.raises(InputError) as err:
        check_files([os.path.join(ROOT, "specs/eplb.adrs")], size, 10, False, lambda *a, **k: None)
    assert str(err.value) == message


def test_a_bad_size_exits_2():
    code, out, err = run("check", "specs/eplb.adrs", "--size", "bogus=3")
    assert code == 2 and err.startswith("error: --size: `bogus` is not an int param") and "Traceback" not in err


def test_compile_refuses_contradictory_invariants_and_writes_nothing(tmp_path):
    shutil.copy(os.path.join(BROKEN, "contradictory.adrs"), tmp_path / "toy.adrs")
    code, out, err = run("compile", "toy.adrs", "--out", "gen", cwd=tmp_path)
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == "toy.adrs: its invariants admit no valid output; nothing written"
    assert "  REFUTED  the invariants admit a valid output  (toy.adrs:23:11, " in err
    assert "           note: conflicting: `first_bin_empty` (line 24)" in lines
    assert not (tmp_path / "gen").exists()


def test_compile_prints_the_fast_checks_as_notes(tmp_path):
    shutil.copy(os.path.join(BROKEN, "toy.adrs"), tmp_path / "toy.adrs")
    code, out, err = run("compile", "toy.adrs", "--out", "gen", cwd=tmp_path)
    assert code == 0, err
    assert out.startswith("compiled toy.adrs -> gen/toy/")
    [note] = [line for line in err.splitlines() if line.startswith("  z3 at ")]
    assert note.startswith("  z3 at items = 4, bins = 3: requires PROVED, defaults PROVED, consistency PROVED (")


def test_ctrl_c_stops_a_long_check_cleanly():
    proc = subprocess.Popen([sys.executable, "-m", "adrs_spec.cli", "check", "specs/eplb.adrs", "--timeout", "120",
                             "--size", "experts=8,replicas=12,gpus=4,nodes=2,groups=4"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "JAX_PLATFORMS": "cpu"})
    try:
        deadline = time.monotonic() + 60
        seen = ""
        while "the invariants admit a valid output" not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "the invariants admit a valid output" in seen      # now in a long solver query
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err
