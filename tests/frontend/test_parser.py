"""The parser: round trips of the shipped specs, fragments, and files that are not specs."""
import dataclasses
import glob

import pytest

from adrs_spec.errors import InputError, Source, SpecError
from adrs_spec.frontend import ast
from adrs_spec.frontend.parser import parse, parse_text, read_source
from adrs_spec.frontend.printer import expr as print_expr
from adrs_spec.frontend.printer import spec_text

SHIPPED = sorted(glob.glob("specs/*.adrs"))


def strip_spans(node):
    """The tree without source positions, for structural comparison."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return (type(node).__name__,) + tuple(
            (f.name, strip_spans(getattr(node, f.name))) for f in dataclasses.fields(node) if "span" not in f.name)
    if isinstance(node, tuple):
        return tuple(strip_spans(x) for x in node)
    return node


def parse_expr(text):
    return parse(Source("<expr>", text), start="expr_start")


def test_shipped_specs_exist():
    assert SHIPPED == ["specs/eplb.adrs", "specs/placement.adrs", "specs/txn_scheduling.adrs"]


@pytest.mark.parametrize("path", SHIPPED)
def test_round_trip(path):
    tree = parse(read_source(path))
    printed = spec_text(tree)
    again = parse_text(printed)
    assert strip_spans(again) == strip_spans(tree)
    assert spec_text(again) == printed


@pytest.mark.parametrize("text, expected", [
    ("a + b * c", "a + b * c"),
    ("(a + b) * c", "(a + b) * c"),
    ("a - (b - c)", "a - (b - c)"),
    ("-x ** 2", "-x ** 2"),
    ("2 ** -3", "2 ** -3"),
    ("a < b <= c", "a < b <= c"),
    ("not a and b or c implies d", "not a and b or c implies d"),
    ("a implies (b implies c)", "a implies b implies c"),
    ("(a implies b) implies c", "(a implies b) implies c"),
    ("x[l, y[l, p]] / z[l, y[l, p]]", "x[l, y[l, p]] / z[l, y[l, p]]"),
    ("sum(p in g * s .. (g + 1) * s where p > 0: x[p])", "sum(p in g * s .. (g + 1) * s where p > 0: x[p])"),
    ("forall l, e: c[l, e] >= 1", "forall l, e: c[l, e] >= 1"),
    ("if a then 1 else 2.5", "if a then 1 else 2.5"),
    ("min(0.002 / t, 2)", "min(0.002 / t, 2)"),
])
def test_expression_fragments(text, expected):
    tree = parse_expr(text)
    assert print_expr(tree) == expected
    assert strip_spans(parse_expr(expected)) == strip_spans(tree)


def test_precedence_structure():
    tree = parse_expr("a + b * c")
    assert isinstance(tree, ast.BinOp) and tree.op == "+"
    assert isinstance(tree.right, ast.BinOp) and tree.right.op == "*"
    chain = parse_expr("0 <= x < n")
    assert isinstance(chain, ast.Compare) and chain.ops == ("<=", "<")


def test_spans_point_at_source():
    tree = parse_text('spec s "t"\nlet slots = replicas // gpus\n')
    let = tree.decls[1]
    assert (let.name_span.line, let.name_span.col, let.name_span.end_col) == (2, 5, 10)
    assert let.expr.op_span.col == 22


def test_ranges_do_not_lex_as_floats():
    rng = parse_text('spec s "t"\nparam n: int = 3 in 2..64\n').decls[1].range
    assert (rng.lo.value, rng.hi.value) == (2, 64)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_source(str(tmp_path / "nope.adrs"))


def test_binary_file(tmp_path):
    path = tmp_path / "x.adrs"
    path.write_bytes(b"\x7fELF\x00\x01\x02")
    with pytest.raises(InputError, match="binary file"):
        read_source(str(path))


def test_huge_file(tmp_path):
    path = tmp_path / "big.adrs"
    path.write_text("# x\n" * (10 * 1024 * 1024 // 4))
    with pytest.raises(InputError, match=r"10\.5 MB; a spec is at most 1024 KB"):
        read_source(str(path))


def test_not_utf8(tmp_path):
    path = tmp_path / "latin.adrs"
    path.write_bytes(b'spec s "caf\xe9"\n')
    with pytest.raises(SpecError) as info:
        read_source(str(path))
    assert info.value.render().splitlines()[0] == f"{path}:1:12: error: the file is not valid UTF-8 text"


# ---- property: printing any expression and parsing it back gives the same tree ----
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from adrs_spec.errors import Span  # noqa: E402

_S = Span(1, 1, 1, 2)
_names = st.sampled_from(["a", "b", "x", "load", "n"])
_leaves = st.one_of(
    st.integers(0, 999).map(lambda v: ast.IntLit(v, _S)),
    st.sampled_from([0.5, 2.25, 1e-05, 3.0]).map(lambda v: ast.FloatLit(v, _S)),
    st.booleans().map(lambda v: ast.BoolLit(v, _S)),
    _names.map(lambda n: ast.Name(n, _S)),
)


def _extend(children):
    binder = st.builds(lambda n, r: ast.Binder(n, r, _S), st.sampled_from(["i", "j"]),
                       st.one_of(st.none(), st.builds(lambda lo, hi: ast.Range(lo, hi, _S), children, children)))
    return st.one_of(
        st.builds(lambda op, a, b: ast.BinOp(op, a, b, _S, _S),
                  st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "and", "or", "implies"]), children, children),
        st.builds(lambda op, a: ast.UnOp(op, a, _S), st.sampled_from(["-", "not"]), children),
        st.lists(st.sampled_from(["<", "<=", "==", "~=", "!="]), min_size=1, max_size=2).flatmap(
            lambda ops: st.lists(children, min_size=len(ops) + 1, max_size=len(ops) + 1).map(
                lambda xs: ast.Compare(tuple(xs), tuple(ops), tuple(_S for _ in ops), _S))),
        st.builds(lambda n, xs: ast.Access(n, _S, tuple(xs), _S), _names, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda n, xs: ast.Call(n, _S, tuple(xs), _S), st.sampled_from(["min", "sqrt", "f"]),
                  st.lists(children, max_size=2)),
        st.builds(lambda op, bs, w, body: ast.Reduction(op, _S, tuple(bs), w, body, _S),
                  st.sampled_from(["sum", "max", "count"]), st.lists(binder, min_size=1, max_size=2),
                  st.one_of(st.none(), children), children),
        st.builds(lambda c, a, b: ast.Cond(c, a, b, _S), children, children, children),
        st.builds(lambda q, bs, body: ast.Quant(q, tuple(bs), body, _S), st.sampled_from(["forall", "exists"]),
                  st.lists(binder, min_size=1, max_size=2), children),
    )


_exprs = st.recursive(_leaves, _extend, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_exprs)
def test_print_parse_round_trip(tree):
    text = print_expr(tree)
    assert strip_spans(parse_expr(text)) == strip_spans(tree), text
