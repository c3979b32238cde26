"""Whole evolve runs against a real OpenAI-compatible server on loopback, answering from a
script: every kind of answer a model or an endpoint gives, and what the run does with it."""
import os
import re
import sqlite3

import pytest

from adrs_spec.errors import InputError
from adrs_spec.runtime.config import load_settings
from adrs_spec.runtime.database import Database
from adrs_spec.runtime.loop import evolve

from openai_server import Reply, ScriptedServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SPEC = os.path.join(ROOT, "specs", "placement.adrs")
INITIAL = os.path.join(HERE, "programs", "placement_marked.py")
KEY = "sk-test-3f9c2a-never-leaks"

INITIAL_CODE = open(INITIAL).read()
HEAD, BLOCK_AND_TAIL = INITIAL_CODE.split("    # EVOLVE-BLOCK-START\n")


def rewrite(body: str) -> str:
    """A full rewrite of the marked program with `body` as the block."""
    return f"```python\n{HEAD}    # EVOLVE-BLOCK-START\n{body}    # EVOLVE-BLOCK-END\n```"


NOT_FOUND = """<<<<<<< SEARCH
    return np.arange(len(size)) % gpus
=======
    return np.zeros(len(size), dtype=np.int64)
>>>>>>> REPLACE"""
OUTSIDE = """<<<<<<< SEARCH
import numpy as np
=======
import numpy as np
import os
>>>>>>> REPLACE"""
BY_DEMAND = """Deal the models out by demand, busiest first.
<<<<<<< SEARCH
    return np.arange(len(size), dtype=np.int64) % int(gpus)
=======
    order = np.argsort(-(req_rate / slo), kind="stable")
    gpu_of = np.empty(len(size), dtype=np.int64)
    gpu_of[order] = np.arange(len(size)) % int(gpus)
    return gpu_of
>>>>>>> REPLACE"""
OUT_OF_RANGE = rewrite("    return np.full(len(size), int(gpus), dtype=np.int64)\n")
SAME_AS_INITIAL = rewrite("    # the same program, another comment\n    return np.arange(len(size), dtype=np.int64) % int(gpus)\n")
LEAKS_ENVIRONMENT = rewrite("    import os\n    raise RuntimeError('environment: ' + repr(dict(os.environ)))\n")


def settings_for(server, **stop):
    return load_settings(data={
        "seed": 3,
        "llm": {"base_url": server.base_url, "models": [{"name": "scripted", "input_usd_per_mtok": 2.0,
                                                          "output_usd_per_mtok": 10.0}],
                "timeout_s": 1.0, "max_retries": 1, "backoff_s": 0.01},
        "search": {"islands": 1},
        "evaluation": {"workers": 1, "timeout_s": 10.0, "baselines": False, "remeasure_runs": 1},
        "stop": {"iterations": 5, **stop},
    })


def run(server, run_dir, **stop):
    return evolve(SPEC, settings_for(server, **stop), str(run_dir), None, {"initial": INITIAL}, quiet=True,
                  holdouts=False)


def user_text(request: dict) -> str:
    return "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")


def test_a_scripted_run_handles_every_kind_of_answer_and_improves(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    replies = [Reply(NOT_FOUND, prompt_tokens=1000, completion_tokens=100),
               Reply(OUTSIDE, prompt_tokens=1000, completion_tokens=100),
               Reply(BY_DEMAND, prompt_tokens=1000, completion_tokens=100),       # iteration 1: applied
               Reply("slow down", status=429),
               Reply(OUT_OF_RANGE, prompt_tokens=1000, completion_tokens=100),    # iteration 2: invalid
               Reply(SAME_AS_INITIAL, prompt_tokens=1000, completion_tokens=100),  # iteration 3: duplicate
               Reply("late", delay_s=3.0), Reply("late", delay_s=3.0),           # iteration 4: timed out
               Reply(LEAKS_ENVIRONMENT, prompt_tokens=1000, completion_tokens=100)]  # iteration 5: crashes
    with ScriptedServer(replies) as server:
        summary = run(server, tmp_path / "run")
    requests = server.requests

    # The key was sent to the endpoint (so its absence below means something) ...
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"
    # ... edits that cannot be applied were sent back with the reason, twice, then one applied.
    assert "SEARCH block 1 was not found" in user_text(requests[1])
    assert "outside the EVOLVE-BLOCK" in user_text(requests[2])
    # The invalid child's witness reaches the next prompt on its island.
    assert "gpu_in_range: scenarios (smoke) case 0; m = 0: gpu_of[0] = 9" in user_text(requests[5])
    assert len(requests) == 9

    db = Database(str(tmp_path / "run" / "evolve.db"))
    programs = {p.iteration: p for p in db.programs()}
    attempts = {a.iteration: a for a in db.attempts()}
    assert programs[1].status == "valid" and programs[1].fitness > programs[0].fitness == 0.0
    assert programs[2].status == "invalid" and programs[2].feedback["violations"][0].startswith("gpu_in_range")
    assert attempts[3].reason.startswith("duplicate")
    assert attempts[4].reason.startswith("LLM error")
    assert programs[5].status == "error" and "environment:" in programs[5].feedback["failure"]["message"]
    # Accounting: 6 answered calls of 1000 + 100 tokens at $2 / $10 per million.
    totals = db.totals()
    assert (totals["tokens_in"], totals["tokens_out"]) == (6000, 600)
    assert totals["cost_usd"] == pytest.approx(6 * (1000 * 2 + 100 * 10) / 1e6)
    assert db.check() == []
    db.close()

    assert summary["headline"].startswith("IMPROVED: placement, 5 iterations, 3 evaluated, 1 valid")
    assert open(tmp_path / "run" / "best.py").read() == programs[1].code
    # The key is in no file of the run, nor in the candidate's environment (shown in its error).
    for name in os.listdir(tmp_path / "run"):
        path = tmp_path / "run" / name
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), name


def test_a_refused_key_stops_the_run_cleanly_and_it_resumes(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with ScriptedServer([Reply(BY_DEMAND, prompt_tokens=10, completion_tokens=10),
                         Reply("bad key", status=401)]) as server:
        with pytest.raises(InputError) as stopped:
            run(server, tmp_path / "run", iterations=3)
    assert "OPENAI_API_KEY" in str(stopped.value) and KEY not in str(stopped.value)
    db = Database(str(tmp_path / "run" / "evolve.db"))
    assert [p.iteration for p in db.programs()] == [0, 1] and db.check() == []
    db.close()

    with ScriptedServer([Reply(OUT_OF_RANGE, prompt_tokens=10, completion_tokens=10)]) as server:
        # A resumed run keeps its settings: point it at the new server through its config file.
        config = (tmp_path / "run" / "config.yaml").read_text()
        (tmp_path / "run" / "config.yaml").write_text(re.sub(r"base_url: .*", f"base_url: {server.base_url}", config))
        summary = evolve(None, None, None, str(tmp_path / "run"), {}, quiet=True, holdouts=False)
    assert summary["iterations"] == 3
    db = Database(str(tmp_path / "run" / "evolve.db"))
    assert [(p.iteration, p.status) for p in db.programs()] == [(0, "valid"), (1, "valid"), (2, "invalid")]
    assert [(a.iteration, a.reason[:9]) for a in db.attempts()] == [(3, "duplicate")]   # the same answer again
    db.close()


def test_an_unreachable_endpoint_is_a_clear_stop(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server = ScriptedServer([Reply("unused")]).start()
    url = server.base_url
    server.stop()                                  # nothing listens there any more
    settings = load_settings(data={"llm": {"base_url": url, "models": [{"name": "m"}], "timeout_s": 1.0,
                                           "max_retries": 1, "backoff_s": 0.01},
                                   "evaluation": {"workers": 1, "baselines": False}, "stop": {"iterations": 2}})
    with pytest.raises(InputError) as stopped:
        evolve(SPEC, settings, str(tmp_path / "run"), None, {"initial": INITIAL}, quiet=True, holdouts=False)
    assert url in str(stopped.value)
    with sqlite3.connect(tmp_path / "run" / "evolve.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


HANGS = rewrite("    while True:\n        pass\n")
KILLS_ITS_WORKER = rewrite("    import os, signal\n    os.kill(os.getppid(), signal.SIGKILL)\n"
                           "    return np.zeros(len(size), dtype=np.int64)\n")
EXITS = rewrite("    import os\n    os._exit(0)\n")


def test_hostile_children_never_stop_the_run(tmp_path):
    replies = [Reply(HANGS), Reply(KILLS_ITS_WORKER), Reply(EXITS), Reply(BY_DEMAND)]
    with ScriptedServer(replies) as server:
        settings = settings_for(server, iterations=4)
        settings = load_settings(data={**settings.to_dict(), "evaluation": {
            **settings.to_dict()["evaluation"], "timeout_s": 2.0}})
        summary = evolve(SPEC, settings, str(tmp_path / "run"), None, {"initial": INITIAL}, quiet=True,
                         holdouts=False)
    db = Database(str(tmp_path / "run" / "evolve.db"))
    outcomes = [(p.iteration, p.status, (p.feedback.get("failure") or {}).get("kind")) for p in db.programs()]
    db.close()
    assert outcomes[1:] == [(1, "error", "timeout"), (2, "error", outcomes[2][2]), (3, "error", "crash"),
                            (4, "valid", None)]
    assert outcomes[2][2] in ("crash", "killed")
    assert summary["headline"].startswith("IMPROVED")
