"""Broken specs get the right verdict at the right place, never a traceback or a hang.

Each file in broken/ is the little `toy.adrs` with one defect; the test pins every verdict
of its check and the location and words of the one that finds the defect.
"""
import os

import pytest

from adrs_spec.backends.z3.checks import check_spec
from adrs_spec.backends.z3.verdicts import Verdict
from adrs_spec.checking import check_files, described
from adrs_spec.compile import compile_file

HERE = os.path.dirname(os.path.abspath(__file__))
P, R, U, S = Verdict.PROVED, Verdict.REFUTED, Verdict.UNKNOWN, Verdict.SKIPPED
HEAD = [("requires", "require", P), ("defaults", "defaults", P)]


def run(name: str):
    return check_spec(compile_file(os.path.join(HERE, "broken", name)), timeout_s=20)


def report_spec(name: str):
    return compile_file(os.path.join(HERE, "broken", name))


def verdicts(report):
    return [(r.check, r.subject, r.verdict) for r in report.results]


def only(report, check: str, subject: str):
    [found] = [r for r in report.results if (r.check, r.subject) == (check, subject)]
    return found


def test_the_sound_toy_spec_passes_every_check():
    report = run("toy.adrs")
    assert verdicts(report) == HEAD + [("consistency", "invariants", P), ("guard", "bin_in_range", P),
                                       ("guard", "counts_match", P), ("bound", "served >= 0.999", P),
                                       ("claim", "items_counted", P)]
    assert report.size == {"items": 4, "bins": 3} and not report.failed


def test_contradictory_invariants_are_named_with_their_lines():
    report = run("contradictory.adrs")
    assert verdicts(report) == HEAD + [
        ("consistency", "invariants", R), ("guard", "bin_in_range", P), ("guard", "counts_match", P),
        ("guard", "first_bin_used", P), ("guard", "first_bin_empty", P), ("bound", "served >= 0.999", S),
        ("claim", "items_counted", S)]
    r = only(report, "consistency", "invariants")
    assert (r.span.line, r.span.col) == (23, 11)
    assert r.detail == "no output satisfies `first_bin_used`, `first_bin_empty` together at items = 4, bins = 3"
    assert r.notes == ("conflicting: `first_bin_used` (line 23)", "conflicting: `first_bin_empty` (line 24)")
    assert [r.severity for r in report.failed] == ["error"] and len(report.failed) == 1


def test_a_vacuous_invariant_is_an_error():
    report = run("vacuous.adrs")
    r = only(report, "guard", "counts_nonnegative")
    assert (r.verdict, r.severity, r.span.line, r.span.col) == (R, "error", 23, 11)
    assert r.detail == "vacuous: no output of the declared types and bounds violates it"
    assert report.failed == (r,)


def test_a_redundant_invariant_is_a_note_naming_what_implies_it():
    report = run("redundant.adrs")
    r = only(report, "guard", "counted_once")
    assert (r.verdict, r.severity, r.span.line) == (P, "info", 23)
    assert r.detail == "it is not vacuous, but `counts_match` implies it at items = 4, bins = 3"
    assert not report.failed


def test_a_missing_guard_is_a_loophole_under_the_bound():
    report = run("loophole.adrs")
    assert verdicts(report) == HEAD + [("consistency", "invariants", P), ("guard", "counts_match", P),
                                       ("bound", "served >= 0.999", R), ("claim", "items_counted", R)]
    r = only(report, "bound", "served >= 0.999")
    assert (r.span.line, r.span.col) == (19, 1)
    assert r.detail == "a loophole: an allowed input and a valid output break it"
    bin_of, load = r.model.tensors["bin_of"], r.model.tensors["load"]
    lost = (bin_of < 0) | (bin_of >= 3)
    assert lost.any() and load[lost].sum() > 0          # load went to a bin that does not exist
    assert r.model.values["served"] < 0.999


def test_a_false_claim_gets_a_counterexample_at_a_point():
    report = run("false_claim.adrs")
    r = only(report, "claim", "every_bin_used")
    assert (r.verdict, r.span.line, r.span.col) == (R, 23, 7)
    b = r.point["b"]
    assert r.model.tensors["count"][b] == 0 and (r.model.tensors["bin_of"] != b).all()
    assert r.where == f"b = {b}"
    assert described(report_spec("false_claim.adrs"), r).where == f"b = {b}: count[{b}] = 0"


def test_unsatisfiable_requirements_are_refuted_with_the_conflicting_ones():
    report = run("unsatisfiable.adrs")
    assert verdicts(report) == [("requires", "require", R), ("defaults", "defaults", S), ("size", "toy", S)]
    r = report.results[0]
    assert (r.span.line, r.span.col) == (6, 9)
    assert r.notes == ("`items >= 4 * bins` (line 6)", "`items < bins` (line 7)")


def test_unsupported_constructs_are_skipped_with_their_location():
    report = run("unsupported.adrs")
    root = only(report, "guard", "root_small")
    assert (root.verdict, root.span.line, root.span.col) == (S, 23, 33)
    assert root.detail == "`sqrt` (not expressible in linear real arithmetic)"
    runtime = only(report, "bound", "runtime(assign) <= 1")
    assert (runtime.verdict, runtime.span.line, runtime.span.col) == (S, 24, 7)
    assert runtime.detail == "`runtime` is measured when a policy runs, not modelled"
    consistency = only(report, "consistency", "invariants")
    assert consistency.verdict is P and consistency.notes == ("without `root_small` (skipped)",)
    assert not report.failed


def test_defaults_that_break_a_requirement_are_refuted_where_the_requirement_is():
    lines = []
    code = check_files([os.path.join(HERE, "broken", "defaults_break.adrs")], None, 10, False,
                       lambda msg="", err=False: lines.append(msg))
    text = "\n".join(lines)
    assert code == 1
    assert "REFUTED  the defaults meet the requirements  (" in text
    assert "defaults_break.adrs:7:9, 0.00 s)" in text
    assert "the defaults break this requirement (bins = 4, items = 6)" in text
    assert "Traceback" not in text


@pytest.mark.parametrize("name", sorted(os.listdir(os.path.join(HERE, "broken"))))
def test_every_broken_spec_ends_in_verdicts(name):
    lines = []
    code = check_files([os.path.join(HERE, "broken", name)], None, 10, True,
                       lambda msg="", err=False: lines.append(msg))
    assert code == (0 if name in ("toy.adrs", "redundant.adrs", "unsupported.adrs") else 1)
    assert "Traceback" not in "\n".join(lines)
