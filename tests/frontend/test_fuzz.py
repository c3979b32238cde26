"""Fuzzing the front end: mutated shipped specs, deep nesting and huge literals never crash or
hang it. Every outcome is a checked spec (whose generated code parses) or a located message.

Each example runs under a wall-clock limit (an alarm, so a hang fails the test instead of
stalling it); the number of examples is bounded so the file runs in seconds."""
import contextlib
import os
import re
import signal

from hypothesis import HealthCheck, given, settings, strategies as st

from adrs_spec.backends.jax.codegen import generate
from adrs_spec.compile import check_python
from adrs_spec.errors import NOWHERE, InputError, Source, SpecError
from adrs_spec.compile import check
from adrs_spec.frontend.parser import parse
from conftest import ROOT

LIMIT_S = 20          # per example; generous for a loaded 2-core machine, far below a hang
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SPECS = {name: open(os.path.join(ROOT, f"specs/{name}.adrs")).read() for name in ("eplb", "placement")}
TOKEN = re.compile(r"#[^\n]*|\"[^\"\n]*\"|[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|[A-Za-z_][A-Za-z0-9_]*|\.\.|"
                   r"\*\*|//|[<>=!~]=|\s+|.")


class Hang(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float):
    def expire(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def front_end(text: str) -> None:
    """Check `text` and generate its code; the only acceptable failures are located messages."""
    source = Source("fuzz.adrs", text)
    with time_limit(LIMIT_S):
        try:
            spec = check(parse(source), source).spec
        except SpecError as err:
            assert err.span != NOWHERE and err.source is source, err.render()
            err.render()
            return
        except InputError as err:
            assert str(err)
            return
        check_python(generate(spec, "fuzz"), spec.name)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


EDITS = st.lists(st.tuples(st.sampled_from(["delete", "duplicate", "swap"]), st.integers(0, 10 ** 6)),
                 min_size=1, max_size=4)


@FUZZ
@given(name=st.sampled_from(sorted(SPECS)), edits=EDITS)
def test_mutated_shipped_specs(name, edits):
    parts = [t for t in tokens(SPECS[name])]
    for kind, at in edits:
        i = at % len(parts)
        if kind == "delete":
            del parts[i]
        elif kind == "duplicate":
            parts.insert(i, parts[i])
        else:
            j = (i + 1 + at // len(parts)) % len(parts)
            parts[i], parts[j] = parts[j], parts[i]
    front_end("".join(parts))


BASE = SPECS["placement"]
WRAPPERS = {
    "minus": ("-", ""), "not": ("not ", ""), "paren": ("(", ")"), "power": ("2 ** ", ""),
    "if": ("if gpus > 1 then ", " else 1"), "sum": ("sum(q in 0 .. 2: ", ")"), "abs": ("abs(", ")"),
    "index": ("size[", "]"), "implies": ("gpu_of[m] >= 0 implies ", ""), "plus": ("1 + ", ""),
}


@FUZZ
@given(layers=st.lists(st.sampled_from(sorted(WRAPPERS)), min_size=1, max_size=400),
       place=st.sampled_from(["invariant deep: forall m: gpu_of[m] < {}", "let deep = {}",
                              "metric deep = 1.0 * {}", "require {} > 0"]))
def test_deep_nesting(layers, place):
    expr = "m" if place.startswith("invariant") else "gpus"
    for layer in layers:
        before, after = WRAPPERS[layer]
        expr = f"{before}{expr}{after}"
    front_end(BASE + "\n" + place.format(expr) + "\n")


@FUZZ
@given(digits=st.integers(1, 20_000), kind=st.sampled_from(["int", "float", "exponent"]),
       place=st.sampled_from(["let big = {}", "param big: int = {}", "let big = 2 ** {}",
                              "metric big = 1.0 * {}", "holdout big from scenarios with gpus = {}"]))
def test_huge_literals(digits, kind, place):
    literal = {"int": "9" * digits, "float": "9" * digits + ".5", "exponent": f"1e{digits}"}[kind]
    front_end(BASE + "\n" + place.format(literal) + "\n")
