"""Whole evolve runs with the built-in mutator: reproducible from the seed, resumable after
kill -9, stopped cleanly by Ctrl-C, and what they write agrees with `adrs-spec validate`.

The runs use a small copy of specs/placement.adrs (one shape, 12 instances) so that they
take seconds; nothing else about the spec changes."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from adrs_spec.runtime.config import load_settings
from adrs_spec.runtime.database import Database
from adrs_spec.runtime.loop import evolve

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
INITIAL = os.path.join(ROOT, "specs", "placement", "policies", "round_robin.py")
CLI = [sys.executable, "-m", "adrs_spec.cli"]


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory):
    text = open(os.path.join(ROOT, "specs", "placement.adrs")).read()
    small = text.replace("cases 50\n  gpus = 5 .. 10", "cases 12\n  gpus = 4")
    assert small != text
    path = tmp_path_factory.mktemp("spec") / "placement.adrs"
    path.write_text(small)
    return str(path)


def settings(seed: int, iterations: int, workers: int = 2):
    return load_settings(data={"seed": seed, "evaluation": {"workers": workers, "baselines": False,
                                                            "remeasure_runs": 1},
                               "stop": {"iterations": iterations}})


def history(run_dir) -> list[tuple]:
    db = Database(os.path.join(run_dir, "evolve.db"))
    try:
        return [(p.iteration, p.island, p.code_hash, p.status, p.fitness) for p in db.programs()] + \
               [(a.iteration, a.island, a.reason) for a in db.attempts()]
    finally:
        db.close()


def test_the_same_seed_gives_the_same_run_and_another_seed_another(small_spec, tmp_path):
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        summary = evolve(small_spec, settings(seed, 16), str(tmp_path / name), None, {"initial": INITIAL},
                         quiet=True, holdouts=False)
        runs[name] = (history(tmp_path / name), (tmp_path / name / "best.py").read_bytes(), summary)
    assert runs["a"][0] == runs["b"][0] and runs["a"][1] == runs["b"][1]
    assert runs["a"][0] != runs["c"][0]
    assert runs["a"][2]["evaluated"] >= 10          # most children are new programs, evaluated


def _evolve_process(args, cwd):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen(CLI + ["evolve", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _programs_in(db_path) -> int:
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT count(*) FROM programs").fetchone()[0]
    except sqlite3.Error:
        return 0


def _wait_for_programs(db_path, n: int, process, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while _programs_in(db_path) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.2)


def test_kill_9_then_resume_loses_nothing_evaluated(small_spec, tmp_path):
    run_dir = tmp_path / "run"
    db_path = run_dir / "evolve.db"
    process = _evolve_process([small_spec, "--initial", INITIAL, "--iterations", "500", "--seed", "2",
                               "--workers", "1", "--run-dir", str(run_dir), "--no-holdout"], tmp_path)
    _wait_for_programs(db_path, 3 + 6, process)          # the initial program on 3 islands, then children
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    before = history(run_dir)
    db = Database(str(db_path))
    assert db.check() == []
    db.close()

    last = max(h[0] for h in before)
    done = subprocess.run(CLI + ["evolve", "--resume", str(run_dir), "--iterations", str(last + 4), "--json",
                                 "--no-holdout"], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    after = history(run_dir)
    assert set(before) <= set(after)                      # nothing evaluated is lost
    iterations = sorted(h[0] for h in after if h[0] > 0)
    assert iterations == list(range(1, last + 5))          # and nothing is done twice
    assert summary["iterations"] == last + 4

    # validate reproduces what the run recorded for its best program.
    best = next(p for p in summary["programs"] if p["label"] in ("best", "initial") and p["id"] ==
                max(summary["programs"][:2], key=lambda p: p["fitness"] or 0)["id"])
    checked = subprocess.run(CLI + ["validate", small_spec, str(run_dir / "best.py"), "--json"], cwd=tmp_path,
                             capture_output=True, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"}, timeout=300)
    report = json.loads(checked.stdout)
    assert report["verdict"] == "VALID"
    recorded = Database(str(db_path)).get(best["id"]).metrics["train"]["scenarios"]
    validated = report["sets"][0]["metrics"]
    assert validated == {k: recorded[k] for k in validated}


def test_ctrl_c_finishes_what_is_in_flight_and_exits_cleanly(small_spec, tmp_path):
    run_dir = tmp_path / "run"
    process = _evolve_process([small_spec, "--initial", INITIAL, "--iterations", "500", "--workers", "2",
                               "--run-dir", str(run_dir)], tmp_path)
    _wait_for_programs(run_dir / "evolve.db", 3 + 2, process)
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert f"interrupted; resume with `adrs-spec evolve --resume {run_dir}`" in out
    assert "Traceback" not in err
    db = Database(str(run_dir / "evolve.db"))
    assert db.check() == []
    db.close()


@pytest.mark.parametrize("args, message", [
    (["--iterations", "1", "--config", "{config}"], "unknown key `stop.iteration`; did you mean `stop.iterations`?"),
    (["--initial", "{missing}"], "no such program file"),
    (["--initial", "{invalid}"], "the initial program is INVALID"),
])
def test_bad_input_is_a_clear_message_and_exit_2(small_spec, tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text("stop:\n  iteration: 3\n")
    (tmp_path / "invalid.py").write_text("import numpy as np\n\ndef place(size, req_rate, slo, gpus):\n"
                                         "    return np.full(len(size), gpus, dtype=np.int64)\n")
    args = [a.format(config=tmp_path / "bad.yaml", missing=tmp_path / "nope.py", invalid=tmp_path / "invalid.py")
            for a in args]
    done = subprocess.run(CLI + ["evolve", small_spec, "--run-dir", str(tmp_path / "run"), *args],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "JAX_PLATFORMS": "cpu"},
                          timeout=300)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    if "INVALID" in message:
        assert "gpu_in_range: scenarios (smoke) case 0; m = 0: gpu_of[0] = 4" in done.stderr
        assert "--allow-invalid-initial" in done.stderr


def test_a_spec_that_does_not_compile_and_a_foreign_run_dir_are_refused(small_spec, tmp_path):
    broken = tmp_path / "broken.adrs"
    broken.write_text(open(small_spec).read().replace("forall m: 0 <= gpu_of[m] < gpus", "forall m: gpu_off[m] < 1"))
    done = subprocess.run(CLI + ["evolve", str(broken)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    line = broken.read_text().split("gpu_off")[0].count("\n") + 1
    assert done.returncode == 2 and f"{broken}:{line}:" in done.stderr and "gpu_off" in done.stderr
    done = subprocess.run(CLI + ["evolve", "--resume", str(tmp_path / "nothing")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "no run to resume here" in done.stderr


def test_a_parent_the_mutator_cannot_change_is_a_rejected_attempt_not_a_crash(small_spec, tmp_path):
    frozen = tmp_path / "frozen.py"
    frozen.write_text("import numpy as np\n\n\ndef place(size, req_rate, slo, gpus):\n"
                      "    # EVOLVE-BLOCK-START\n    # nothing here can change\n    # EVOLVE-BLOCK-END\n"
                      "    return np.arange(len(size), dtype=np.int64) % int(gpus)\n")
    summary = evolve(small_spec, settings(0, 3), str(tmp_path / "run"), None, {"initial": str(frozen)},
                     quiet=True, holdouts=False)
    assert summary["evaluated"] == 0
    reasons = [a[2] for a in history(tmp_path / "run") if len(a) == 3]
    assert len(reasons) == 3 and all(r.startswith("the mutator found no change: no mutation") for r in reasons)


def test_the_summary_gives_the_gap_to_the_optima_stored_beside_the_spec(small_spec, tmp_path):
    import shutil

    import numpy as np

    from adrs_spec import optima
    from adrs_spec.backends.reference.instance import evaluate_instance
    from adrs_spec.compile import compile_file
    from adrs_spec.lang.statics import bind
    from adrs_spec.runtime.report import render_summary

    folder = tmp_path / "specs"
    shutil.copytree(os.path.join(ROOT, "specs", "placement", "policies"), folder / "placement" / "policies")
    spec_path = str(folder / "placement.adrs")
    shutil.copy(small_spec, spec_path)
    spec = compile_file(spec_path)
    stored = optima.compute(spec, {"gpus": 2, "models": 4}, 3, 0, 60)
    optima.write(stored, optima.default_path(spec_path, spec))
    assert len(stored.proven) == 3

    run = load_settings(data={"seed": 0, "evaluation": {"workers": 1, "baselines": True, "remeasure_runs": 1},
                              "stop": {"iterations": 2}})
    summary = evolve(spec_path, run, str(tmp_path / "run"), None, {"initial": INITIAL}, quiet=True)
    env = bind(spec, stored.params)
    expected = []
    for t in stored.proven:       # the initial program is round robin: model m on GPU m % 2
        gpu_of = np.arange(4, dtype=np.int64) % 2
        expected.append(t.value / evaluate_instance(spec, env, {**t.fields, "gpu_of": gpu_of}).metrics["max_kvpr"])
    rows = {row["label"]: row for row in summary["programs"]}
    initial = rows["initial"]["optimality"]
    assert initial["instances"] == initial["valid"] == 3
    assert initial["mean_ratio"] == pytest.approx(np.mean(expected), rel=1e-5)
    assert rows["baseline round_robin.py"]["optimality"]["mean_ratio"] == pytest.approx(np.mean(expected), rel=1e-5)
    assert rows["baseline greedy.py"]["optimality"]["instances"] == 3
    text = render_summary(summary)
    assert "optimality (minimize max_kvpr) on 3 tiny instances with proven optima" in text
    assert f"    initial                      {np.mean(expected):.3f} ({min(expected):.3f})" in text
