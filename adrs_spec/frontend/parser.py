"""Text -> syntax tree: one LALR parser over grammar.lark, and a transformer to `ast` nodes.

Lark's exceptions never reach the user: they are translated into `SpecError`s that speak
of the language ("expected an expression") rather than of token names.
"""
from __future__ import annotations

import functools
from dataclasses import replace
from importlib import resources

import lark
from lark import Token, Transformer, v_args

from adrs_spec import errors
from adrs_spec.errors import CompilerBug, SpecError, Span, Source
from adrs_spec.files import regular_file_size
from adrs_spec.frontend import ast

MAX_SPEC_BYTES = 1 << 20
# Expressions nest at most this deep (each operator of a chain such as `a + b + c` counts
# one level). The checker and the code generators recurse over expressions; the bound keeps
# them far from Python's recursion limit, and no readable spec comes near it.
MAX_NESTING = 100
INT64_MAX = (1 << 63) - 1
REDUCERS = ("sum", "mean", "max", "min", "count", "all", "any", "prod")


@functools.lru_cache(maxsize=None)
def _parser(start: str) -> lark.Lark:
    grammar = resources.files("adrs_spec.frontend").joinpath("grammar.lark").read_text()
    return lark.Lark(grammar, parser="lalr", start=start, propagate_positions=True,
                     maybe_placeholders=True)


def _span_of(item) -> Span:
    if isinstance(item, Token):
        return Span(item.line, item.column, item.end_line, item.end_column)
    meta = item
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _span(node) -> Span:
    return node.span


@v_args(meta=True, inline=True)
class _ToAst(Transformer):
    """One method per grammar rule; each returns a frozen AST node with its span."""

    def __default__(self, data, children, meta):
        raise CompilerBug(f"grammar rule `{data}` has no AST builder")

    # ---- literals and names ----
    def int_lit(self, meta, tok):
        digits = str(tok).lstrip("0") or "0"
        if len(digits) > 19 or int(digits) > INT64_MAX:      # checked before int(): no huge conversions
            shown = digits if len(digits) <= 30 else f"{digits[:20]}... ({len(digits)} digits)"
            raise SpecError(f"the integer {shown} does not fit in 64 bits", _span_of(tok),
                            notes=(f"ints are 64-bit: at most {INT64_MAX}; write a float (`1e30`) "
                                   f"for a larger number",))
        return ast.IntLit(int(digits), _span_of(tok))

    def float_lit(self, meta, tok):
        value = float(tok)
        if value == float("inf"):
            shown = tok if len(tok) <= 30 else f"{tok[:20]}... ({len(tok)} characters)"
            raise SpecError(f"the number {shown} is too large for a float", _span_of(tok),
                            notes=("floats are IEEE doubles: at most about 1.8e308",))
        return ast.FloatLit(value, _span_of(tok))

    def bool_lit(self, meta, tok):
        return ast.BoolLit(tok == "true", _span_of(tok))

    def name(self, meta, tok):
        return ast.Name(str(tok), _span_of(tok))

    def access(self, meta, tok, *indices):
        return ast.Access(str(tok), _span_of(tok), tuple(indices), _span_of(meta))

    def call(self, meta, tok, *items):
        items = tuple(i for i in items if i is not None)
        for item in items:
            if isinstance(item, ast.Binder):
                raise SpecError(f"`{item.name} in ...` binds an index, which only a reduction can do; "
                                f"write `{tok}({item.name} in a .. b: body)`", item.span,
                                notes=(f"reductions are {', '.join(REDUCERS)}",))
        return ast.Call(str(tok), _span_of(tok), items, _span_of(meta))

    def reduction(self, meta, tok, *rest):
        *items, where, body = rest
        op = str(tok)
        if op not in REDUCERS:
            raise SpecError(f"`{op}` is not a reduction; `name(i: body)` needs one of {', '.join(REDUCERS)}",
                            _span_of(tok))
        binders = []
        for item in items:
            if isinstance(item, ast.Binder):
                binders.append(item)
            elif isinstance(item, ast.Name):
                binders.append(ast.Binder(item.name, None, item.span))
            else:
                raise SpecError(f"expected an index name before `:` in `{op}(...)`", item.span,
                                notes=(f"write `{op}(i: body)` or `{op}(i in a .. b: body)`",))
        return ast.Reduction(op, _span_of(tok), tuple(binders), where, body, _span_of(meta))

    def ranged_binder(self, meta, tok, rng):
        return ast.Binder(str(tok), rng, _span_of(meta))

    def binder(self, meta, tok, rng):
        return ast.Binder(str(tok), rng, _span_of(meta))

    def range(self, meta, lo, hi):
        return ast.Range(lo, hi, _span_of(meta))

    def set(self, meta, *items):
        return ast.SetLit(tuple(items), _span_of(meta))

    # ---- operators ----
    def cond(self, meta, c, a, b):
        return ast.Cond(c, a, b, _span_of(meta))

    def quant(self, meta, tok, *rest):
        *binders, body = rest
        return ast.Quant(str(tok), tuple(binders), body, _span_of(meta))

    def _logic(self, op, meta, a, b):
        return ast.BinOp(op, a, b, a.span, _span_of(meta))

    def implies(self, meta, a, b):
        return self._logic("implies", meta, a, b)

    def or_(self, meta, a, b):
        return self._logic("or", meta, a, b)

    def and_(self, meta, a, b):
        return self._logic("and", meta, a, b)

    def not_(self, meta, a):
        return ast.UnOp("not", a, _span_of(meta))

    def compare(self, meta, *parts):
        operands, ops = parts[0::2], parts[1::2]
        if len(ops) > MAX_NESTING:      # a chain is checked into nested `and`s
            raise SpecError(f"a chain of {len(ops)} comparisons; the limit is {MAX_NESTING}", _span_of(ops[0]),
                            notes=("split it into several conditions joined by `and`, or several invariants",))
        return ast.Compare(tuple(operands), tuple(str(o) for o in ops),
                           tuple(_span_of(o) for o in ops), _span_of(meta))

    def binop(self, meta, a, op, b):
        return ast.BinOp(str(op), a, b, _span_of(op), _span_of(meta))

    def pow(self, meta, a, op, b):
        return ast.BinOp("**", a, b, _span_of(op), _span_of(meta))

    def neg(self, meta, op, a):
        if op == "+":
            return a
        return ast.UnOp("-", a, _span_of(meta))

    # ---- declarations ----
    def expr_start(self, meta, expr):
        return expr

    def start(self, meta, *decls):
        return ast.SpecFile(tuple(decls))

    def adapter_decl(self, meta, path):
        return ast.AdapterDecl(str(path)[1:-1], _span_of(meta))

    def spec_decl(self, meta, name, title):
        return ast.SpecDecl(str(name), title[1:-1] if title else "", _span_of(meta))

    def param_decl(self, meta, name, dtype, default, rng):
        return ast.ParamDecl(str(name), _span_of(name), str(dtype), default, rng, _span_of(meta))

    def require_decl(self, meta, expr):
        return ast.RequireDecl(expr, _span_of(meta))

    def let_decl(self, meta, name, binders, expr, initially):
        return ast.LetDecl(str(name), _span_of(name), binders or (), expr, _span_of(meta), initially)

    # ---- step blocks ----
    def step_decl(self, meta, binder, *items):
        return ast.StepDecl(binder, tuple(i for i in items if isinstance(i, ast.StateDecl)),
                            tuple(i for i in items if isinstance(i, ast.LetDecl)),
                            tuple(i for i in items if isinstance(i, ast.Update)), _span_of(meta))

    def state_decl(self, meta, name, ttype, init):
        return ast.StateDecl(str(name), _span_of(name), ttype, init, _span_of(meta))

    def target(self, meta, name, *indices):
        return (str(name), _span_of(name), tuple(i for i in indices if i is not None))

    def for_clause(self, meta, *rest):
        *binders, where = rest
        return tuple(binders), where

    def update(self, meta, target, op, value, clause):
        return self._update(meta, target, str(op), _span_of(op), value, clause)

    def set_update(self, meta, target, value, clause):
        name, name_span, _ = target
        return self._update(meta, target, "=", Span(name_span.line, name_span.col, name_span.end_line,
                                                        name_span.end_col), value, clause)

    @staticmethod
    def _update(meta, target, op, op_span, value, clause):
        name, name_span, indices = target
        binders, where = clause if clause is not None else ((), None)
        return ast.Update(name, name_span, indices, op, op_span, value, binders, where, _span_of(meta))

    def index_binders(self, meta, *binders):
        return tuple(binders)

    def instance_decl(self, meta, *fields):
        return ast.InstanceDecl(tuple(fields), _span_of(meta))

    def field(self, meta, role, name, ttype, op, bound):
        return ast.FieldDecl(str(role), str(name), _span_of(name), ttype,
                             str(op) if op else None, bound, _span_of(meta))

    def tensor_type(self, meta, dtype, *dims):
        dims = tuple(d for d in dims if d is not None)
        bounded = tuple(isinstance(d, ast.BoundedDim) for d in dims)
        dims = tuple(d.bound if isinstance(d, ast.BoundedDim) else d for d in dims)
        return ast.TensorType(str(dtype), dims, _span_of(meta), bounded if any(bounded) else ())

    def bounded_dim(self, meta, op, bound):
        if str(op) != "<=":
            raise SpecError(f"a dimension cannot start with `{op}`", _span_of(op),
                            notes=("a dimension of any width up to a bound is written `<= bound`",))
        return ast.BoundedDim(bound, _span_of(meta))

    def policy_decl(self, meta, name, *rest):
        args = tuple(ast.Name(str(t), _span_of(t)) for t in rest if isinstance(t, Token))
        outputs = tuple(r for r in rest if isinstance(r, ast.OutputDecl))
        return ast.PolicyDecl(str(name), _span_of(name), args, outputs, _span_of(meta))

    def output(self, meta, name, ttype, pad):
        return ast.OutputDecl(str(name), _span_of(name), ttype, _span_of(meta), pad)

    def invariant_decl(self, meta, name, expr):
        return ast.InvariantDecl(str(name), _span_of(name), expr, _span_of(meta))

    def claim_decl(self, meta, name, expr):
        return ast.ClaimDecl(str(name), _span_of(name), expr, _span_of(meta))

    def metric_decl(self, meta, name, expr, agg):
        agg_name = ast.Name(str(agg), _span_of(agg)) if agg else None
        return ast.MetricDecl(str(name), _span_of(name), expr, agg_name, _span_of(meta))

    def bound_decl(self, meta, expr):
        return ast.BoundDecl(expr, _span_of(meta))

    def objective_decl(self, meta, direction, expr):
        return ast.ObjectiveDecl(str(direction), expr, _span_of(meta))

    def score_decl(self, meta, expr):
        return ast.ScoreDecl(expr, _span_of(meta))

    def tolerance_decl(self, meta, expr):
        return ast.ToleranceDecl(expr, _span_of(meta))

    # ---- workloads ----
    def workload_decl(self, meta, name, *stmts):
        return ast.WorkloadDecl(str(name), _span_of(name), tuple(stmts), _span_of(meta))

    def wassign(self, meta, name, value):
        _no_set_after_equals(name, value)
        return ast.WAssign(str(name), _span_of(name), value, _span_of(meta))

    def wassign_in(self, meta, name, value):
        return ast.WAssign(str(name), _span_of(name), value, _span_of(meta))

    hassign = wassign
    hassign_in = wassign_in

    def wtrace(self, meta, name, ttype, gen, *args):
        args = tuple(a for a in args if a is not None)
        return ast.WTrace(str(name), _span_of(name), ttype, str(gen), _span_of(gen), args, _span_of(meta))

    def garg(self, meta, name, value):
        _no_set_after_equals(name, value)
        return ast.GenArg(str(name), _span_of(name), value, _span_of(meta))

    def garg_in(self, meta, name, value):
        return ast.GenArg(str(name), _span_of(name), value, _span_of(meta))

    def winstances(self, meta, binder, *fields):
        return ast.WInstances(binder, tuple(fields), _span_of(meta))

    def wfield(self, meta, name, expr):
        return ast.WField(str(name), _span_of(name), expr, _span_of(meta))

    def wcases(self, meta, expr):
        return ast.WCases(expr, _span_of(meta))

    def holdout_decl(self, meta, name, base, *items):
        items = tuple(i for i in items if i is not None)
        return ast.HoldoutDecl(str(name), _span_of(name), str(base), _span_of(base), items, _span_of(meta))


def _no_set_after_equals(name, value) -> None:
    """Sets of choices are written one way everywhere: `name in {a, b}`."""
    if isinstance(value, ast.SetLit):
        raise SpecError(f"`{name} = {{...}}`: a set of choices is written with `in`", value.span,
                        notes=(f"write `{name} in {{...}}` (as in workloads, generator arguments and holdouts)",))


# ---- error translation: Lark's terminal names -> words of the language ----
_EXPR_START = {"INT", "FLOAT", "BOOL", "NAME", "LPAR", "ADD_OP", "IF", "NOT", "QUANT"}
_DECL_START = {"SPEC", "PARAM", "REQUIRE", "LET", "INSTANCE", "POLICY", "INVARIANT", "CLAIM", "METRIC",
               "BOUND", "OBJECTIVE", "SCORE", "TOLERANCE", "WORKLOAD", "HOLDOUT", "ADAPTER",
               "STEP"}
_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a quoted title",
    "DTYPE": "a type (`int`, `float` or `bool`)", "ROLE": "`observe` or `hidden`",
    "DIRECTION": "`maximize` or `minimize`", "UPDATE_OP": "`max=`, `min=` or `+=`", "QUANT": "`forall` or `exists`",
    "COMP_OP": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/`, `//` or `%`", "POW": "`**`",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`", "RBRACE": "`}`",
    "COMMA": "`,`", "COLON": "`:`", "EQUAL": "`=`", "__ANON_0": "`..`", "$END": "the end of the file",
}


_OPERATORS = {"COMP_OP", "ADD_OP", "MUL_OP", "POW", "AND", "OR", "IMPLIES", "LSQB", "LPAR"}


def _describe_expected(expected: set[str], terminals: dict) -> list[str]:
    """Summarize a set of acceptable terminals in the language's words, most useful first."""
    words: list[str] = []
    names = set(expected)
    if {"INT", "NAME", "LPAR"} <= names:
        words.append("an expression")
        names -= _EXPR_START
    if len(names & _OPERATORS) >= 3:
        words.append("an operator")
        names -= _OPERATORS
    decl_start = bool(names & _DECL_START) and len(names & _DECL_START) >= 3
    names -= _DECL_START if decl_start else set()
    for name in sorted(names - {"$END"}):
        if name in _WORDS:
            words.append(_WORDS[name])
        elif name in terminals and isinstance(getattr(terminals[name].pattern, "value", None), str):
            words.append(f"`{terminals[name].pattern.value}`")
        else:
            words.append(name.lower())
    if decl_start:
        words.append("a new declaration")
    elif "$END" in names and not words:
        words.append("the end of the file")
    return sorted(set(words), key=words.index)


def _found(token: Token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"`{token}`"


def _join(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _translate(exc: lark.exceptions.LarkError, source: Source, terminals: dict) -> SpecError:
    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        char = source.text[exc.pos_in_stream] if exc.pos_in_stream < len(source.text) else "?"
        hint = ("strings are only allowed as the title in `spec NAME \"title\"`",) if char == '"' else ()
        return SpecError(f"unexpected character `{char}`", Span.point(exc.line, exc.column), hint, source)
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        tok = exc.token
        try:
            acceptable = set(exc.interactive_parser.accepts())
        except Exception:  # the exact set is a refinement; the LALR guess is still right
            acceptable = set(exc.expected)
        expected = _describe_expected(acceptable, terminals)
        if tok.type == "$END":
            lines = source.text.splitlines() or [""]
            span = Span.point(len(lines), len(lines[-1]) + 1)
        else:
            span = Span(tok.line, tok.column, tok.end_line or tok.line,
                        tok.end_column or tok.column + len(str(tok)))
        notes = ()
        before = source.text[tok.start_pos - 1] if tok.type != "$END" and tok.start_pos else ""
        if str(tok) == "=" and before == "=":
            notes = ("use `=` to define a name, `==` to compare",)
        if str(tok) == "=" and "COMP_OP" in exc.expected:
            notes = ("use `==` to compare, `=` only to define a name",)
        return SpecError(f"expected {_join(expected)}, found {_found(tok)}", span, notes, source)
    if isinstance(exc, lark.exceptions.UnexpectedEOF):
        lines = source.text.splitlines() or [""]
        return SpecError("unexpected end of file", Span.point(len(lines), len(lines[-1]) + 1), (), source)
    raise CompilerBug(f"unexpected parser failure: {exc!r}")


def read_source(path: str) -> Source:
    """Read a spec file, refusing what cannot be a spec (missing, not a regular file, binary,
    huge, not UTF-8). The file type is checked before opening: reading a FIFO or a device
    would wait for a writer, or never end."""
    size = regular_file_size(path, "a .adrs spec")
    if size > MAX_SPEC_BYTES:
        raise errors.InputError(f"{path}: the file is {size / 1e6:.1f} MB; a spec is at most "
                                f"{MAX_SPEC_BYTES // 1024} KB of text. Is this the right file?")
    with open(path, "rb") as fh:
        data = fh.read(MAX_SPEC_BYTES + 1)
    return replace(decode_source(path, data), path=path)


def decode_source(name: str, data: bytes) -> Source:
    """UTF-8 bytes as a Source whose lines end in `\\n` (CRLF and lone CR too), without a BOM."""
    if b"\x00" in data:
        raise errors.InputError(f"{name}: this is a binary file, not a spec; a spec is a UTF-8 text "
                                f"file of declarations (see specs/eplb.adrs)")
    data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")     # for the position of a decoding error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        src = Source(name, data.decode("utf-8", errors="replace"))
        raise SpecError("the file is not valid UTF-8 text", Span.point(line, col), source=src) from None
    return Source(name, text.removeprefix("\ufeff"))


def parse(source: Source, start: str = "start"):
    """Parse a whole spec (or, with `start="expr_start"`, one expression) into AST nodes."""
    parser = _parser(start)
    try:
        tree = parser.parse(source.text)
    except lark.exceptions.LarkError as exc:
        if isinstance(exc, lark.exceptions.VisitError):
            raise
        raise _translate(exc, source, {t.name: t for t in parser.terminals}) from None
    _check_nesting(tree, source)
    try:
        return _ToAst().transform(tree)
    except lark.exceptions.VisitError as exc:
        inner = exc.orig_exc
        if isinstance(inner, SpecError):
            raise inner.with_source(source) from None
        raise CompilerBug(f"AST construction failed: {inner!r}") from inner


def _check_nesting(tree: lark.Tree, source: Source) -> None:
    """A located error at the first node, in source order, that nests deeper than
    MAX_NESTING levels (an iterative walk: the transformer that follows recurses once per level)."""
    stack = [(tree, -1)]       # declarations are level 0, the operators in them 1, 2, ...
    while stack:
        node, depth = stack.pop()
        children = [child for child in node.children if isinstance(child, lark.Tree)]
        if depth > MAX_NESTING and children:       # a leaf (a name, a number) adds no level
            raise SpecError(f"this expression nests more than {MAX_NESTING} levels deep", _span_of(node.meta),
                            notes=("name inner parts with `let`; each operator of a chain such as `a + b + c` "
                                   "counts one level",), source=source)
        stack.extend((child, depth + 1) for child in reversed(children))


def parse_text(text: str, name: str = "<spec>"):
    return parse(Source(name, text))
