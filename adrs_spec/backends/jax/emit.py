"""The pieces generated code is built from: values over index axes, and function bodies.

A lowered sub-expression is a `Val`: Python code for an array whose axes are the index
variables it depends on, in binding order (outer first). Values are of three kinds:
`py` (a Python scalar over statics), `np` (a numpy array over indices and statics only,
computed once at trace time) and `jnp` (depends on the instance's data).
"""
from __future__ import annotations

import builtins
import keyword
import textwrap
from dataclasses import dataclass, field

from adrs_spec.lang import ir

KINDS = ("py", "np", "jnp")

# Names a spec name must not become in generated code: Python's builtins (generated code
# calls abs, min, max, float, int, len), the module's own names, and the locals of the
# functions that call the spec's functions (per_instance, make_evaluator).
RESERVED = frozenset({
    "jax", "jnp", "np", "rt", "s", "dataclasses", "annotations", "Statics", "bind_statics", "shapes",
    "per_instance", "make_evaluator", "SPEC", "SOURCE", "SOURCE_SHA256", "COMPILER_VERSION",
    "PARAMS", "TENSORS", "FIELDS", "OUTPUTS", "INVARIANTS", "METRICS", "TOLERANCE", "ok", "t",
    "float_dtype", "int_dtype", "values", "params", "dtype", "evaluate", "batched", "one",
    "guards", "metrics",
}) | frozenset(dir(builtins))


def py_name(name: str) -> str:
    """A spec name as a Python identifier that shadows nothing: `max` becomes `max_`. One to
    one: a name that already ends in `_` gets another (`max_` becomes `max__`)."""
    if keyword.iskeyword(name) or name in RESERVED or name.endswith("_"):
        return name + "_"
    return name


def comment_text(text: str) -> str:
    """`text` safe in a `#` comment: characters that could end the line (newlines, CR, form
    feeds, Unicode separators) and other unprintable ones as escapes."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def docstring_text(text: str) -> str:
    """`text` safe inside a triple-quoted docstring that reads back as `text`: backslashes and
    quotes escaped, unprintable characters as escapes."""
    return comment_text(text.replace("\\", "\\\\").replace('"', '\\"'))


# Python's operator precedence, loosest first, for parenthesising generated expressions.
COND, NOT, COMPARE, OR, AND, SUM, PRODUCT, UNARY, POWER, ATOM = 1, 4, 5, 6, 8, 10, 11, 12, 13, 15
BINARY_PREC = {"+": SUM, "-": SUM, "*": PRODUCT, "/": PRODUCT, "//": PRODUCT, "%": PRODUCT,
               "**": POWER, "&": AND, "|": OR, "==": COMPARE, "!=": COMPARE, "<": COMPARE,
               "<=": COMPARE, ">": COMPARE, ">=": COMPARE}


@dataclass(frozen=True)
class Val:
    code: str
    vars: tuple[str, ...]      # axis keys, in binding order
    dtype: ir.DType
    kind: str                  # "py" | "np" | "jnp"
    prec: int = ATOM           # precedence of the code's outermost operator


def wrap(code: str, prec: int, need: int) -> str:
    """`code` (whose outermost operator has precedence `prec`) usable where `need` is required."""
    return f"({code})" if prec < need else code


def binary(op: str, left: str, lprec: int, right: str, rprec: int) -> tuple[str, int]:
    """`left op right` with just the parentheses Python needs (comparisons never chain)."""
    p = BINARY_PREC[op]
    if op == "**":
        need_left, need_right = POWER + 1, UNARY
    elif p == COMPARE:
        need_left = need_right = COMPARE + 1
    else:
        need_left, need_right = p, p + 1
    if op == "|":       # `a | (b & c)`: parentheses Python does not need but a reader does
        left, lprec = (f"({left})", ATOM) if lprec == AND else (left, lprec)
        right, rprec = (f"({right})", ATOM) if rprec == AND else (right, rprec)
    return f"{wrap(left, lprec, need_left)} {op} {wrap(right, rprec, need_right)}", p


def kind_of(*vals: Val | None) -> str:
    return KINDS[max(KINDS.index(v.kind) for v in vals if v is not None)]


def xp(*vals: Val | None) -> str:
    """The array module an operation on these values uses: numpy while nothing reads data."""
    return "jnp" if kind_of(*vals) == "jnp" else "np"


@dataclass
class FunctionBody:
    """The lines of one generated function, and the local names it has taken."""

    taken: set[str] = field(default_factory=set)
    lines: list[str] = field(default_factory=list)

    def fresh(self, base: str) -> str:
        base = py_name(base)
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name

    def line(self, text: str, comment: str = "") -> None:
        """A statement; its comment goes above it when the line would be long."""
        if comment and len(text) + len(comment) > 92:
            self.lines.append(f"# {comment}")
            comment = ""
        self.lines.append(f"{text}  # {comment}" if comment else text)

    def comment(self, text: str) -> None:
        self.lines += ["# " + ln for ln in textwrap.wrap(text, 92, break_long_words=False)]

    def render(self, indent: str = "    ") -> list[str]:
        """The body's physical lines, long calls split one argument per line."""
        return [indent + piece for line in self.lines for piece in split_call(line)]

    def take_last(self, name: str) -> tuple[str, str] | None:
        """If the last line assigns `name`, remove it and return (value, comment).

        Lets a function return (or name `ok`) its final expression instead of a temporary.
        """
        if not self.lines or not self.lines[-1].startswith(f"{name} = "):
            return None
        code, _, comment = self.lines.pop()[len(name) + 3:].partition("  # ")
        return code, comment


def split_call(line: str, limit: int = 96) -> list[str]:
    """A long `x = f(a, b, c)` as one argument per line, the way a formatter would. Only a
    call: a parenthesised expression `x = (a if c else b)` is left whole (split, it would
    read as a tuple)."""
    if len(line) <= limit or not line.endswith(")") or "#" in line:
        return [line]
    start = line.find("(")
    if start <= 0 or not (line[start - 1].isalnum() or line[start - 1] == "_") or \
            _closing(line, start) != len(line) - 1:
        return [line]
    args, depth, current = [], 0, ""
    for c in line[start + 1:-1]:
        depth += c in "([{"
        depth -= c in ")]}"
        if c == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += c
    args.append(current.strip())
    return [line[:start + 1]] + [f"    {a}," for a in args if a] + [")"]


def _closing(code: str, start: int) -> int:
    """Index of the bracket that closes the one at `start` (-1 if none)."""
    depth = 0
    for i in range(start, len(code)):
        depth += code[i] in "([{"
        depth -= code[i] in ")]}"
        if depth == 0:
            return i
    return -1
