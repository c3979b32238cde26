"""The command line as a user runs it: real subprocesses, exit codes, messages, files on disk."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli as run


def test_help_lists_commands():
    code, out, _ = run("--help")
    assert code == 0
    for command in ("compile", "workloads", "validate"):
        assert command in out
    code, out, _ = run("compile", "--help")
    assert code == 0 and "--check" in out and "atomic" in out


def test_usage_error_exit_2():
    code, _, err = run("compile")
    assert code == 2 and "Missing argument" in err


def test_generated_code_is_up_to_date():
    code, out, err = run("compile", "--check", "specs/eplb.adrs", "specs/placement.adrs")
    assert code == 0, err
    assert out.splitlines() == ["OK     specs/eplb.adrs: generated/eplb/ is up to date",
                                "OK     specs/placement.adrs: generated/placement/ is up to date"]


def test_compile_writes_and_check_detects_staleness(tmp_path):
    spec = tmp_path / "eplb.adrs"
    shutil.copy(os.path.join(ROOT, "specs/eplb.adrs"), spec)
    out_dir = tmp_path / "gen"
    code, out, err = run("compile", str(spec), "--out", str(out_dir), cwd=tmp_path)
    assert code == 0, err
    assert sorted(os.listdir(out_dir / "eplb")) == ["evaluator.py", "manifest.json"]
    first = (out_dir / "eplb" / "evaluator.py").read_bytes()
    code, _, _ = run("compile", str(spec), "--out", str(out_dir), cwd=tmp_path)
    assert (out_dir / "eplb" / "evaluator.py").read_bytes() == first
    spec.write_text(spec.read_text().replace("param layers: int = 58", "param layers: int = 57"))
    code, _, err = run("compile", "--check", str(spec), "--out", str(out_dir), cwd=tmp_path)
    assert code == 1 and "STALE" in err and "differs" in err


def test_failed_compile_leaves_output_untouched(tmp_path):
    spec = tmp_path / "eplb.adrs"
    shutil.copy(os.path.join(ROOT, "specs/eplb.adrs"), spec)
    out_dir = tmp_path / "gen"
    assert run("compile", str(spec), "--out", str(out_dir), cwd=tmp_path)[0] == 0
    before = (out_dir / "eplb" / "evaluator.py").read_bytes()
    spec.write_text(spec.read_text().replace("sum(e: next[l, e])", "sum(e: nxt[l, e])"))
    code, _, err = run("compile", str(spec), "--out", str(out_dir), cwd=tmp_path)
    assert code == 1
    assert "eplb.adrs:" in err and "unknown name `nxt`" in err and "did you mean `next`?" in err
    assert (out_dir / "eplb" / "evaluator.py").read_bytes() == before
    assert sorted(os.listdir(out_dir)) == ["eplb"]


@pytest.mark.parametrize("content, code, message", [
    (b"", 1, "error: the spec is empty"),
    (b"\x00\x01binary\xff", 2, "this is a binary file, not a spec"),
    (b"spec s\nparam n: int = 3\nlet x = n / 2\npolicy f(n) -> y: int[n]\n", 1, "`/` divides floats, but both sides are ints"),
    (b"spec s\nparam n: int = 3\nrequire n > 5\npolicy f(n) -> y: int[n]\n", 1,
     "the defaults break this requirement (n = 3)"),
    (b"spec s\nlet a = b\nlet b = a\npolicy f() -> y: int[2]\n", 1, "is defined in terms of itself"),
])
def test_bad_specs(tmp_path, content, code, message):
    spec = tmp_path / "bad.adrs"
    spec.write_bytes(content)
    got, out, err = run("compile", str(spec), "--out", str(tmp_path / "gen"), cwd=tmp_path)
    assert got == code
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "gen").exists() or os.listdir(tmp_path / "gen") == []


def test_huge_file(tmp_path):
    spec = tmp_path / "huge.adrs"
    spec.write_bytes(b"# padding\n" * 1_000_000)
    code, _, err = run("compile", str(spec), cwd=tmp_path)
    assert code == 2 and "10.0 MB" in err and "Traceback" not in err


def test_missing_spec(tmp_path):
    code, _, err = run("compile", str(tmp_path / "nope.adrs"), cwd=tmp_path)
    assert code == 2 and "no such file" in err


@pytest.mark.parametrize("command", ["compile", "workloads"])
def test_an_output_folder_that_cannot_be_written_is_an_input_error(tmp_path, command):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "out"                      # a folder inside a file: fails for every user
    code, _, err = run(command, os.path.join(ROOT, "specs/placement.adrs"), "--out", str(out), cwd=tmp_path)
    assert code == 2 and "Traceback" not in err
    reason = err.strip().removeprefix(f"error: cannot write {out}/ (").removesuffix(
        "); choose a folder you can write to with --out")
    assert reason in ("Not a directory", "File exists")       # which one depends on the first call that fails


def test_compile_keeps_other_files_and_gives_normal_permissions(tmp_path):
    spec = tmp_path / "placement.adrs"
    shutil.copy(os.path.join(ROOT, "specs/placement.adrs"), spec)
    folder = tmp_path / "gen" / "placement"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    procs = [subprocess.Popen([sys.executable, "-m", "adrs_spec.cli", "compile", str(spec), "--out", str(tmp_path / "gen")],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert sorted(os.listdir(tmp_path / "gen")) == ["placement"]
    assert sorted(os.listdir(folder)) == ["evaluator.py", "manifest.json", "notes.txt"]
    assert (folder / "notes.txt").read_text() == "mine"
    mask = os.umask(0)
    os.umask(mask)
    assert oct(os.stat(tmp_path / "gen").st_mode & 0o777) == oct(0o777 & ~mask)
    assert oct(os.stat(folder / "evaluator.py").st_mode & 0o777) == oct(0o666 & ~mask)


def test_a_spec_that_is_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "spec.adrs"
    os.mkfifo(fifo)
    code, _, err = run("compile", str(fifo), cwd=tmp_path, timeout=60)
    assert code == 2
    assert err == f"error: {fifo}: is a FIFO (named pipe), not a file; give the path of a .adrs spec\n"


def test_a_trace_with_nan_is_an_input_error_before_any_policy_runs(small_eplb, policies, tmp_path):
    import numpy as np

    trace = tmp_path / "load.npz"
    load = np.full((4, 3, 16), 100.0)
    load[2, 1, 7] = np.nan
    np.savez(trace, load=load)
    code, out, err = run("validate", str(small_eplb), os.path.join(policies, "round_robin.py"), "--trace",
                         str(trace), "--json", cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err == f"error: {trace}: the value at [2, 1, 7] is nan: it is not a finite number\n"


NAN_SPEC = ('spec nan "A metric of 0 / 0"\nparam n: int = 3\ninstance {\n  observe load: float[n] >= 0\n}\n'
            'policy assign(load) -> slot: int[n]\ninvariant in_range: forall i: slot[i] >= 0\n'
            'metric nothing = 0.0 / 0.0\nscore nothing\n'
            'workload w {\n  trace load: float[n] = uniform(low = 0.0, high = 1.0)\n}\n')


def test_validate_json_writes_null_for_a_nan_metric(tmp_path):
    import json

    spec, policy = tmp_path / "nan.adrs", tmp_path / "zeros.py"
    spec.write_text(NAN_SPEC)
    policy.write_text("import numpy as np\n\ndef assign(load):\n    return np.zeros(len(load), dtype=np.int64)\n")
    code, out, err = run("validate", str(spec), str(policy), "--json", cwd=tmp_path)
    assert code == 0, err

    def no_constants(name):
        raise AssertionError(f"bare {name} in the JSON output")

    report = json.loads(out, parse_constant=no_constants)
    assert report["verdict"] == "VALID"
    assert [(s["metrics"], s["score"]) for s in report["sets"]] == [({"nothing": None}, None)]


@pytest.mark.parametrize("limit, message", [
    ("ulimit -v 6000000", "this shell limits address space to 5.7 GiB (ulimit -v), below --memory 8.0 GiB, and a "
                          "policy process cannot get more than its parent; give --memory 5.7 or less, or raise the "
                          "limit (ulimit -v unlimited)"),
    ("ulimit -f 1024", "this shell limits files to 1.0 MiB (ulimit -f), below the 64.0 MiB a policy process may "
                       "write (its printed output included); raise the limit (ulimit -f unlimited)"),
])
def test_limits_of_the_calling_shell_are_named(small_eplb, policies, tmp_path, limit, message):
    command = (f"{limit} && exec {sys.executable} -m adrs_spec.cli validate {small_eplb} "
               f"{os.path.join(policies, 'round_robin.py')}")
    proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == f"error: {message}"
