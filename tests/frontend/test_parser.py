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
    assert SHIPPED == ["specs/eplb.adrs", "specs/placement.adrs"]


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
