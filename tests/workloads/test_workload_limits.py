"""Workloads that are too big, locals over static lets, and ranges found empty only while a
case is drawn: located errors before anything large is allocated, or the right values."""
import pytest

from adrs_spec.errors import Source, SpecError
from adrs_spec.compile import check_source
from adrs_spec.workloads.build import build, format_bytes, memory_limit

TOY = ('spec toy "A toy"\nparam n: int = 4 in 1 .. 10\nparam k: int = 2\nlet half = n // k\n'
       'instance {\n  observe load: float[n] >= 0\n  hidden future: float[n] >= 0\n}\n'
       'policy assign(load, k) -> slot: int[n]\ninvariant in_range: forall i: 0 <= slot[i] < k\n')


def spec_of(workload: str, head: str = TOY):
    source = Source("toy.adrs", head + workload)
    return check_source(source), source


def build_error(workload: str, head: str = TOY) -> str:
    spec, source = spec_of(workload, head)
    with pytest.raises(SpecError) as info:
        build(spec, spec.workloads[0], seed=0)
    return info.value.with_source(source).render()


def test_a_local_over_a_static_let():
    spec, _ = spec_of("workload w {\n  cases 3\n  m = half + 1\n"
                      "  trace load: float[n] = uniform(low = m, high = m + 1)\n"
                      "  trace future: float[n] = uniform(low = 0.0, high = 1.0)\n}\n")
    (group,) = build(spec, spec.workloads[0], seed=0).groups
    assert group.fields["load"].shape == (3, 4)
    assert ((group.fields["load"] >= 3) & (group.fields["load"] < 4)).all()      # half = 2, m = 3


def test_huge_windows_are_refused_before_anything_is_drawn():
    message = build_error("workload w {\n  windows = 100000000000\n"
                          "  trace a: float[windows, n] = uniform(low = 0.0, high = 1.0)\n"
                          "  instances w in 0 .. windows: load = a[w], future = a[w]\n}\n")
    # per case: the trace (1e11 x 4 floats) and the instances twice (1e11 x (4 + 4) floats each)
    need = 8 * (4 * 10 ** 11 + 2 * 10 ** 11 * 8)
    assert message == (
        f"toy.adrs:11:1: error: workload `w` would need about {format_bytes(need)} of memory (1 case(s) of "
        f"about {format_bytes(need)}); the limit is {format_bytes(memory_limit())}\n"
        "  workload w {\n"
        "  ^^^^^^^^^^^^\n"
        "  note: lower `cases`, or the sizes of the traces (`windows`, the params of their dimensions)")
    assert format_bytes(need) == "14.6 TiB"


def test_huge_dimensions_are_refused():
    head = TOY.replace("param n: int = 4 in 1 .. 10", "param n: int = 4000000000000")
    message = build_error("workload w {\n  cases 2\n  trace load: float[n] = uniform(low = 0.0, high = 1.0)\n"
                          "  trace future: float[n] = uniform(low = 0.0, high = 1.0)\n}\n", head)
    assert message.splitlines()[0] == (
        f"toy.adrs:11:1: error: workload `w` would need about 349.2 TiB of memory (2 case(s) of about 174.6 TiB); "
        f"the limit is {format_bytes(memory_limit())}")


def test_a_range_found_empty_while_drawing_a_case():
    message = build_error("workload w {\n  lo = 2 .. 3\n  width = lo .. 2\n"
                          "  trace load: float[n] = uniform(low = 0.0, high = width)\n"
                          "  trace future: float[n] = uniform(low = 0.0, high = 1.0)\n}\n")
    assert message == (
        "toy.adrs:13:11: error: the range 2 .. 2 is empty; a range `lo .. hi` includes lo and excludes hi, so "
        "lo must be below hi\n"
        "    width = lo .. 2\n"
        "            ^^^^^^^")


def test_the_memory_limit_is_at_most_half_of_this_machine():
    import os
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < memory_limit() <= physical // 2
