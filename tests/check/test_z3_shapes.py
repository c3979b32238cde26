"""Param tuples that meet the requires, for shape-shift holdouts: a verdict, never `[]` for
every kind of failure."""
from adrs_spec.backends.z3.shapes import shape_tuples
from adrs_spec.backends.z3.verdicts import Verdict
from adrs_spec.errors import Source
from adrs_spec.compile import check_source


def spec_with(params: str, requires: str):
    text = f"""spec s "s"
{params}
{requires}
instance {{
  observe w: float[n] >= 0
}}
policy f(w) -> x: int[n]
invariant ok: forall i: x[i] >= 0
"""
    return check_source(Source("s.adrs", text))


def test_abs_in_a_requirement_is_searched():
    spec = spec_with("param n: int = 5 in 1 .. 6", "require abs(n - 3) >= 1")
    found = shape_tuples(spec, [{"n": 3}], exclude=[{"n": 5}])
    assert found.verdict is Verdict.PROVED and found.tuples[0]["n"] in (2, 4)


def test_a_valid_target_is_taken_as_it_is():
    spec = spec_with("param n: int = 5 in 1 .. 60", "require n % 4 == 1")
    found = shape_tuples(spec, [{"n": 9}, {"n": 9}], exclude=[{"n": 5}])
    assert found.verdict is Verdict.PROVED and found.tuples[0] == {"n": 9} and found.tuples[1]["n"] in (13, 1)


def test_no_other_tuple_is_refuted():
    spec = spec_with("param n: int = 2 in 1 .. 5", "require n * n == 4")
    found = shape_tuples(spec, [{"n": 1}], exclude=[{"n": 2}])
    assert (found.verdict, found.tuples, found.reason) == (
        Verdict.REFUTED, (), "no other param tuple satisfies the requirements")


def test_an_unsupported_requirement_is_skipped_naming_the_construct():
    spec = spec_with("param n: int = 4 in 1 .. 9", "require sqrt(float(n)) >= 2.0")
    found = shape_tuples(spec, [{"n": 2}], exclude=[{"n": 4}])
    assert found.verdict is Verdict.SKIPPED and found.tuples == ()
    assert found.reason == ("the requirements use `sqrt` (not expressible in linear real arithmetic), "
                            "which Z3 cannot search")


def test_negative_divisors_follow_python_floor_division():
    # 2 // -5 is -1 in Python (floor), 0 in SMT-LIB's div: only the first makes n = 2 valid
    spec = spec_with("param n: int = 3 in 1 .. 7", "require n // (n - 7) == -1")
    found = shape_tuples(spec, [{"n": 6}], exclude=[{"n": 3}])
    assert found.verdict is Verdict.PROVED and found.tuples == ({"n": 2},)
