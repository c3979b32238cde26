"""The command line as a user runs it: real subprocesses, exit codes, messages, files on disk."""
import os
import shutil

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
