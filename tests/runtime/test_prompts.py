"""Prompts are generated from the spec and show training results only."""
import os

from adrs_spec.compile import check_source
from adrs_spec.frontend.parser import read_source
from adrs_spec.runtime.prompts import build_prompt, describe_feedback, problem_statement

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def eplb():
    source = read_source(os.path.join(ROOT, "specs", "eplb.adrs"))
    return check_source(source), source


def test_the_problem_statement_carries_the_signature_every_invariant_and_the_score():
    spec, source = eplb()
    text = problem_statement(spec, source)
    assert "`rebalance_experts(weight, replicas, groups, nodes, gpus)`" in text
    assert "- `log2phy`: int[layers, experts, <= max_copies] [58, 256, 33], any width up to the bound, padded with -1" in text
    for inv in spec.invariants:
        assert f"- `{inv.name}`" in text
    assert "      forall l, e: logcnt[l, e] >= 1" in text           # the invariant's own source
    assert "so an expert with no replica would drop its tokens" in text   # and its comment
    assert "score 90 * balance + 5 * min(0.002 / runtime, 2)" in text
    assert "let gpu_load[l, g in 0 .. gpus]" in text
    assert "scored on data it does not see (`next`)" in text


def test_holdout_results_never_reach_a_prompt():
    spec, source = eplb()
    metrics = {"train": {"zipf_drift": {"balance": 0.25, "runtime_s": 0.001, "score": 32.5}},
               "holdout": {"regime_shift": {"balance": 0.123456, "score": 11.1}},
               "remeasured": {"zipf_drift": {"balance": 0.25, "runtime_s": 0.002, "score": 31.0}}}
    prompt = build_prompt("problem", "def f(): pass", metrics, 32.5, {}, [("def g(): pass", metrics, 30.0)],
                          "edit like this")
    assert "zipf_drift: balance 0.2500, runtime 1.00 ms, score 32.5000" in prompt.user
    assert "regime_shift" not in prompt.user + prompt.system and "0.1235" not in prompt.user


def test_feedback_shows_the_verdict_and_witnesses():
    text = describe_feedback({"stage": "smoke", "verdict": "INVALID", "reason": "1 invariant violation(s)",
                              "violations": ["every_expert_placed: zipf_drift case 0: logcnt[0, 3] = 0"],
                              "failure": None, "notes": []})
    assert text == ("Evaluation: INVALID: 1 invariant violation(s)\n"
                    "- violated every_expert_placed: zipf_drift case 0: logcnt[0, 3] = 0")


def test_templates_can_be_overridden():
    prompt = build_prompt("P", "code", {}, None, {}, [], "E", context="mind the GPUs",
                          system_template="{problem}|{context}|{edit_instructions}", user_template="<{parent}>")
    assert prompt.system == "P|\n## Notes from the user\nmind the GPUs\n|E" and prompt.user == "<code>"


def test_a_spec_with_an_adapter_offers_its_public_interface_in_the_problem_statement():
    from adrs_spec.runtime.loop import _interfaces

    path = os.path.join(ROOT, "specs", "txn_scheduling.adrs")
    source = read_source(path)
    spec = check_source(source)
    text = problem_statement(spec, source, _interfaces(spec))
    assert "A Python file defining `schedule(key, write, offset, length)`" in text
    assert "Instead of `schedule`, the program may define one of these" in text
    assert "- `get_best_schedule(workload, num_seqs)` (adapter `leaderboard`):" in text
    assert "    the makespan of a sequence (a prefix too) by the spec's own executor" in text   # its docstring
    assert text.index("## Or: a public interface") < text.index("## Invariants")
    spec, source = eplb()
    assert _interfaces(spec) == [] and "public interface" not in problem_statement(spec, source)


def test_an_adapter_interface_is_read_without_running_the_adapter():
    from adrs_spec.sandbox.adapters import Interface, interface

    bare = 'FUNCTION = "solve"\nraise SystemExit("never run")\ndef inputs(a):\n    return (a,), None\n' \
           'def outputs(result, state):\n    return result\n'
    assert interface("bare", bare) == Interface("bare", "solve", None, "")
    named = '"""Solves it.\n\nTakes `xs`."""\nFUNCTION = "solve"\nARGUMENTS = ("xs", "k")\n' + bare.split("\n", 2)[2]
    assert interface("named", named) == Interface("named", "solve", ("xs", "k"), "Solves it.\n\nTakes `xs`.")
