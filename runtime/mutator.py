"""The built-in, LLM-free mutator: small transformations of the Python syntax tree inside
the EVOLVE-BLOCKs, so that `adrs-spec evolve` searches without any model or API key.

The transformations are generic (nothing here knows a spec): constants nudged, operators
and comparisons swapped, reductions and axes exchanged, sorts turned around or re-keyed, an
index order (`np.arange(n)`, `range(n)`) replaced by a sort of an array of the same length
in scope, round-robin dealing made serpentine, expressions simplified, copies and
conversions dropped, statements deleted, repeated or swapped, names of the same kind
exchanged, and functions or statement runs crossed over from other programs. A child gets
one to three of them.

Every child parses and differs from its parent after `edits.normalize`; only the changed
statements are re-rendered (edits.apply_tree), so the code outside the blocks, and the
comments of untouched statements, stay byte for byte. The choice of everything is drawn
from the given random.Random: same state, same child.
"""
from __future__ import annotations

import ast
import copy
import difflib
import random
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Iterable, Sequence

from adrs_spec.runtime.edits import EditError, apply_tree, code_hash, evolve_blocks, first_line, inside

# Fixed weights of the kinds of mutation; a kind with nothing to act on is skipped. Kept fixed
# (not adapted to past success) so that a run is a pure function of its seed and resumes exactly.
DEFAULT_WEIGHTS: dict[str, float] = {
    "constant": 0.12,
    "operator": 0.06,
    "compare": 0.06,
    "boolean": 0.02,
    "simplify": 0.06,
    "drop_copy": 0.05,
    "index_order": 0.14,
    "sort_order": 0.10,
    "reduction": 0.08,
    "serpentine": 0.04,
    "statement": 0.06,
    "name": 0.03,
    "crossover": 0.10,
}
# How many mutations one child gets, with their weights.
MUTATIONS_PER_CHILD = ((1, 7.0), (2, 2.0), (3, 1.0))


def kinds_of(description: str) -> list[str]:
    """The kinds of mutation a Mutation's description lists, in order."""
    return [part.split(":", 1)[0] for part in description.split("; ") if part.split(":", 1)[0] in DEFAULT_WEIGHTS]


def adapted_weights(history: Iterable[tuple[str, bool]], base: dict[str, float] | None = None,
                    limits: tuple[float, float] = (0.25, 4.0), prior_tries: float = 4.0) -> dict[str, float]:
    """Kind weights leaning toward the kinds that have paid off in this run: each base weight
    times the kind's success rate over the run's, clipped to `limits`. A kind's rate starts
    from `prior_tries` tries at the run's rate, so a kind seldom or never tried keeps about
    its base weight. `history` holds (description, success) for the children so far.

    A pure function of the history, which a run keeps in its database: the weights are the
    same after a resume, and a seeded run stays reproducible."""
    base = dict(base or DEFAULT_WEIGHTS)
    tries: dict[str, int] = {k: 0 for k in base}
    wins: dict[str, int] = {k: 0 for k in base}
    for description, success in history:
        for kind in kinds_of(description):
            if kind in tries:
                tries[kind] += 1
                wins[kind] += bool(success)
    overall = (sum(wins.values()) + 1) / (sum(tries.values()) + 2)
    low, high = limits
    weights = {}
    for kind, weight in base.items():
        rate = (wins[kind] + prior_tries * overall) / (tries[kind] + prior_tries)
        weights[kind] = weight * min(max(rate / overall, low), high)
    return weights


@dataclass(frozen=True)
class Mutation:
    code: str
    description: str     # e.g. "compare `<` -> `<=` at line 14"


Site = Callable[[random.Random], str | None]     # mutates the tree in place; None: nothing done


class Mutator:
    def __init__(self, max_tries: int = 20, weights: dict[str, float] | None = None):
        unknown = sorted(set(weights or {}) - set(DEFAULT_WEIGHTS))
        if unknown:
            raise ValueError(f"unknown mutation kind(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_WEIGHTS)}")
        self.max_tries = max_tries
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}

    def mutate(self, parent: str, others: Sequence[str], rng: random.Random) -> Mutation:
        """A child of `parent` (crossing over with `others` sometimes); EditError when no
        mutation of the blocks gives a new program in `max_tries` attempts."""
        evolve_blocks(parent)
        try:
            ast.parse(parent)
        except SyntaxError as err:
            raise EditError(f"the program to mutate does not parse: {err.msg} at line {err.lineno}") from None
        parent_hash = code_hash(parent)         # cached by code: parents recur
        mates = _parse_others(others, parent_hash)
        counts, count_weights = zip(*MUTATIONS_PER_CHILD)
        for _ in range(self.max_tries):
            code, notes = parent, []
            for _ in range(rng.choices(counts, weights=count_weights)[0]):
                step = self._step(code, mates, rng)
                if step is None:
                    break
                code, note = step
                notes.append(note)
            if notes and code_hash(code) != parent_hash:
                return Mutation(code, "; ".join(notes))
        raise EditError(f"no mutation of the EVOLVE-BLOCK code gave a new program in {self.max_tries} tries")

    def _step(self, code: str, mates: list[ast.Module], rng: random.Random) -> tuple[str, str] | None:
        """One mutation of `code`, or None when the drawn one could not be written back.
        A kind is drawn by weight; one with nothing to act on is dropped and another drawn."""
        program = Program(code)
        kinds = [k for k, w in self.weights.items() if w > 0]
        while kinds:
            kind = rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]
            sites = SITES[kind](program, mates)
            if sites:
                break
            kinds.remove(kind)
        else:
            return None
        note = rng.choice(sites)(rng)
        if note is None:
            return None
        try:
            return apply_tree(code, program.tree), f"{kind}: {note}"
        except EditError:
            return None


def _parse_others(others: Sequence[str], parent_hash: str) -> list[ast.Module]:
    mates = []
    for other in others:
        try:
            tree = ast.parse(other)
        except SyntaxError:
            continue
        if code_hash(other) != parent_hash:
            mates.append(tree)
    return mates


# ---- what a program offers: editable statements, nodes, scopes ----

def _sub_bodies(stmt: ast.stmt) -> list[list[ast.stmt]]:
    out = [getattr(stmt, name) for name in ("body", "orelse", "finalbody")
           if isinstance(getattr(stmt, name, None), list)]
    return out + [h.body for h in getattr(stmt, "handlers", [])]


@dataclass
class Scope:
    """What a function (or the module) tells about its names, read off its own code."""
    kinds: dict[str, str] = field(default_factory=dict)              # name -> "array" | "scalar"
    bound_at: dict[str, int] = field(default_factory=dict)           # name -> line first bound (1-based)
    dims: dict[str, tuple[str, int]] = field(default_factory=dict)   # scalar -> (array, axis) it is the length of
    ndim: dict[str, int] = field(default_factory=dict)               # array -> number of axes, when unpacked


class Program:
    """A parsed program with the parts that may change: statements inside the blocks, their
    nodes in a fixed order, the statement lists they sit in, and the scopes around them."""

    def __init__(self, code: str):
        self.code = code
        self.tree = ast.parse(code)
        self.blocks = evolve_blocks(code)
        self.parents: dict[int, ast.AST] = {}
        annotations: list[ast.expr] = []
        self.modules: set[str] = set()      # names imports bind (np, math, ...): modules, not values
        self.numpy: str | None = None
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                self.parents[id(child)] = node
            if isinstance(node, ast.arg) and node.annotation is not None:
                annotations.append(node.annotation)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
                annotations.append(node.returns)
            elif isinstance(node, ast.AnnAssign):
                annotations.append(node.annotation)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    self.modules.add(alias.asname or alias.name.split(".")[0])
                    if isinstance(node, ast.Import) and alias.name == "numpy" and self.numpy is None:
                        self.numpy = alias.asname or "numpy"
        self.editable: list[ast.stmt] = []
        self.bodies: list[tuple[list[ast.stmt], list[int]]] = []
        self._collect(self.tree.body, False)
        skipped = {id(n) for a in annotations for n in ast.walk(a)}
        self.nodes = [n for stmt in self.editable for n in ast.walk(stmt) if id(n) not in skipped]
        self._scopes: dict[int, Scope] = {}

    def _collect(self, body: list[ast.stmt], inherited: bool) -> None:
        indices = []
        for i, stmt in enumerate(body):
            ok = inherited or inside(self.blocks, first_line(stmt), stmt.end_lineno)
            if ok:
                indices.append(i)
                if not inherited:
                    self.editable.append(stmt)
            for sub in _sub_bodies(stmt):
                self._collect(sub, ok)
        if indices:
            self.bodies.append((body, indices))

    def statement_of(self, node: ast.AST) -> ast.stmt:
        while not isinstance(node, ast.stmt):
            node = self.parents[id(node)]
        return node

    def scope_of(self, node: ast.AST) -> Scope:
        owner = node
        while not isinstance(owner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Module)):
            owner = self.parents[id(owner)]
        if id(owner) not in self._scopes:
            self._scopes[id(owner)] = build_scope(owner, self.numpy)
        return self._scopes[id(owner)]

    def in_scope(self, node: ast.AST, kind: str) -> list[str]:
        """Names of the kind bound before the statement holding `node`, in binding order."""
        scope, line = self.scope_of(node), self.statement_of(node).lineno
        return [n for n, at in scope.bound_at.items() if at < line and scope.kinds.get(n) == kind]


# ---- scopes: which names are arrays, which scalars, which are lengths of what ----

REDUCTIONS = ("sum", "mean", "max", "min", "prod", "median", "std", "var", "argmax", "argmin", "amax", "amin",
              "average", "count_nonzero", "all", "any", "nansum", "nanmax", "nanmin")
ARRAY_WORDS = ("ndarray", "tensor", "array")


def _annotation_kind(annotation: ast.expr | None) -> str | None:
    if annotation is None:
        return None
    text = ast.unparse(annotation).lower()
    if any(word in text for word in ARRAY_WORDS):
        return "array"
    if text in ("int", "float", "bool"):
        return "scalar"
    return None


def _has_axis(call: ast.Call, receiver_is_arg: bool) -> bool:
    return any(k.arg == "axis" for k in call.keywords) or len(call.args) > (1 if receiver_is_arg else 0)


def value_kind(expr: ast.expr, scope: Scope, numpy: str | None) -> str | None:
    """"array", "scalar" or None (unknown) for an expression, from its form alone."""
    if isinstance(expr, ast.Constant):
        return "scalar" if type(expr.value) in (int, float) else None
    if isinstance(expr, ast.Name):
        return scope.kinds.get(expr.id)
    if isinstance(expr, ast.UnaryOp):
        return value_kind(expr.operand, scope, numpy)
    if isinstance(expr, (ast.BinOp, ast.Compare)):
        sides = [expr.left, expr.right] if isinstance(expr, ast.BinOp) else [expr.left, *expr.comparators]
        kinds = [value_kind(s, scope, numpy) for s in sides]
        if "array" in kinds:
            return "array"
        return "scalar" if all(k == "scalar" for k in kinds) else None
    if isinstance(expr, ast.Call):
        return _call_kind(expr, scope, numpy)
    if isinstance(expr, ast.Subscript):
        if value_kind(expr.value, scope, numpy) != "array":
            return None
        parts = expr.slice.elts if isinstance(expr.slice, ast.Tuple) else [expr.slice]
        return "array" if any(isinstance(p, ast.Slice) for p in parts) else None
    if isinstance(expr, ast.Attribute) and expr.attr == "T":
        return value_kind(expr.value, scope, numpy)
    return None


def _call_kind(call: ast.Call, scope: Scope, numpy: str | None) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return "scalar" if func.id in ("len", "int", "float", "round", "abs") else None
    if not isinstance(func, ast.Attribute):
        return None
    if isinstance(func.value, ast.Name) and func.value.id == numpy:
        if func.attr in ("shape", "ndim", "size"):
            return "scalar" if func.attr != "shape" else None
        if func.attr in REDUCTIONS:
            return "array" if _has_axis(call, True) else "scalar"
        return "array"
    if value_kind(func.value, scope, numpy) == "array":
        if func.attr in REDUCTIONS:
            return "array" if _has_axis(call, False) else "scalar"
        return "scalar" if func.attr == "item" else "array" if func.attr != "tolist" else None
    return None


def _usage_kind(name: str, owner: ast.AST, numpy: str | None) -> str | None:
    """A parameter's kind from how the function uses it, when it carries no annotation."""
    for node in ast.walk(owner):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == name:
            return "array"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name \
                and node.attr in ("shape", "ndim", "dtype", *REDUCTIONS):
            return "array"
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Name) \
                and node.args[0].id == name:
            f = node.func
            if isinstance(f, ast.Name) and f.id == "len":
                return "array"
            if isinstance(f, ast.Name) and f.id in ("int", "float", "range"):
                return "scalar"
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == numpy \
                    and f.attr == "shape":
                return "array"
    return None


def build_scope(owner: ast.AST, numpy: str | None) -> Scope:
    scope = Scope()
    if isinstance(owner, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for arg in owner.args.posonlyargs + owner.args.args + owner.args.kwonlyargs:
            scope.bound_at[arg.arg] = owner.lineno
            kind = _annotation_kind(arg.annotation) or _usage_kind(arg.arg, owner, numpy)
            if kind:
                scope.kinds[arg.arg] = kind
    binds = [n for n in ast.walk(owner) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.For))]
    for node in sorted(binds, key=lambda n: (n.lineno, n.col_offset)):
        if isinstance(node, ast.For):
            ranged = isinstance(node.iter, ast.Call) and isinstance(node.iter.func, ast.Name) \
                and node.iter.func.id == "range"
            _bind(scope, node.target, None, node.lineno, numpy, "scalar" if ranged else None)
        elif node.value is not None:
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                _bind(scope, target, node.value, node.lineno, numpy)
    return scope


def _length_of(expr: ast.expr, scope: Scope, numpy: str | None) -> tuple[str, int] | None:
    """(array, axis) when `expr` is a length read off an array: a dimension name, len(x),
    x.shape[k] or np.shape(x)[k]."""
    if isinstance(expr, ast.Name):
        return scope.dims.get(expr.id)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "len" \
            and len(expr.args) == 1 and isinstance(expr.args[0], ast.Name):
        return expr.args[0].id, 0
    if isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant) and type(expr.slice.value) is int:
        array = _shape_of(expr.value, numpy)
        if array is not None:
            axis = expr.slice.value
            if axis < 0 and array in scope.ndim:
                axis += scope.ndim[array]
            return (array, axis) if axis >= 0 else None
    return None


def _shape_of(expr: ast.expr, numpy: str | None) -> str | None:
    """The array name when `expr` is x.shape or np.shape(x)."""
    if isinstance(expr, ast.Attribute) and expr.attr == "shape" and isinstance(expr.value, ast.Name):
        return expr.value.id
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "shape" \
            and isinstance(expr.func.value, ast.Name) and expr.func.value.id == numpy \
            and len(expr.args) == 1 and isinstance(expr.args[0], ast.Name):
        return expr.args[0].id
    return None


def _bind(scope: Scope, target: ast.expr, value: ast.expr | None, line: int, numpy: str | None,
          kind: str | None = None) -> None:
    if isinstance(target, ast.Name):
        scope.bound_at.setdefault(target.id, line)
        kind = kind or (value_kind(value, scope, numpy) if value is not None else None)
        if kind and target.id not in scope.kinds:
            scope.kinds[target.id] = kind
        length = _length_of(value, scope, numpy) if value is not None else None
        if length and target.id not in scope.dims:
            scope.dims[target.id] = length
        return
    if not isinstance(target, (ast.Tuple, ast.List)):
        return
    array = _shape_of(value, numpy) if value is not None else None
    if array is not None and all(isinstance(e, ast.Name) for e in target.elts):
        scope.ndim.setdefault(array, len(target.elts))
        for axis, element in enumerate(target.elts):
            scope.dims.setdefault(element.id, (array, axis))
            _bind(scope, element, None, line, numpy, "scalar")
        return
    values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) else None
    for n, element in enumerate(target.elts):
        _bind(scope, element, values[n] if values else None, line, numpy)


# ---- small helpers ----

def _expr(text: str) -> ast.expr:
    return ast.parse(text, mode="eval").body


def _replace(program: Program, old: ast.AST, new: ast.AST) -> None:
    """Put `new` where `old` is in its parent node."""
    parent = program.parents[id(old)]
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise AssertionError("node not found in its parent")


def _show(node: ast.AST, limit: int = 60) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_module(program: Program, expr: ast.expr) -> bool:
    """Whether `expr` names an imported module (np, math, ...), not a value."""
    return isinstance(expr, ast.Name) and expr.id in program.modules


# ---- the kinds of mutation: each lists its sites; a site changes the tree when called ----

def _number(node: ast.AST) -> int | float | None:
    """The value of a number literal, a negative one (`-2`, parsed as minus 2) included."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _number(node.operand)
        return None if inner is None or not isinstance(node.operand, ast.Constant) else -inner
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    return None


def _literal(value: int | float) -> ast.expr:
    """A number as the parser would read it back: a negative one is a minus applied."""
    return ast.UnaryOp(ast.USub(), ast.Constant(-value)) if value < 0 else ast.Constant(value)


def constant_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """Number literals, but not the structural ones: integers that index or slice, and the
    `+ 1` / `- 1` offsets of index arithmetic."""
    sites: list[Site] = []
    for node in program.nodes:
        value = _number(node)
        if value is None or (isinstance(node, ast.Constant) and _number(program.parents[id(node)]) is not None):
            continue
        if type(value) is int and _structural(program, node, value):
            continue
        sites.append(partial(_perturb_constant, program, node))
    return sites


def _structural(program: Program, node: ast.expr, value: int) -> bool:
    parent = program.parents[id(node)]
    if isinstance(parent, ast.BinOp) and isinstance(parent.op, (ast.Add, ast.Sub)) and abs(value) == 1:
        return True
    while not isinstance(parent, ast.stmt):
        if isinstance(parent, ast.Slice) or (isinstance(parent, ast.Subscript) and node is not parent.value):
            return True
        node, parent = parent, program.parents[id(parent)]
    return False


def _perturb_constant(program: Program, node: ast.expr, rng: random.Random) -> str:
    old = _number(node)
    if type(old) is int:
        options = [old + 1, old - 1, old * 2, old // 2]
    elif old:
        options = [float(f"{old * factor:.6g}") for factor in (0.5, 0.9, 1.1, 2.0)]
    else:
        options = [0.1, -0.1, 1.0]
    new = rng.choice([o for o in dict.fromkeys(options) if o != old])
    _replace(program, node, _literal(new))
    return f"constant `{old!r}` -> `{new!r}` at line {node.lineno}"


SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
           ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
           ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in", ast.Is: "is",
           ast.IsNot: "is not", ast.And: "and", ast.Or: "or"}
OPERATOR_SWAPS = {ast.Add: (ast.Sub,), ast.Sub: (ast.Add,), ast.Mult: (ast.Div, ast.FloorDiv),
                  ast.Div: (ast.Mult, ast.FloorDiv), ast.FloorDiv: (ast.Div, ast.Mult), ast.Mod: (ast.FloorDiv,),
                  ast.Pow: (ast.Mult,), ast.BitAnd: (ast.BitOr,), ast.BitOr: (ast.BitAnd,)}
COMPARE_SWAPS = {ast.Lt: (ast.LtE, ast.Gt), ast.LtE: (ast.Lt, ast.GtE), ast.Gt: (ast.GtE, ast.Lt),
                 ast.GtE: (ast.Gt, ast.LtE), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,), ast.In: (ast.NotIn,),
                 ast.NotIn: (ast.In,), ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,)}


def operator_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    return [partial(_swap_operator, node) for node in program.nodes
            if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in OPERATOR_SWAPS]


def _swap_operator(node: ast.BinOp | ast.AugAssign, rng: random.Random) -> str:
    old = type(node.op)
    new = rng.choice(OPERATOR_SWAPS[old])
    node.op = new()
    return f"operator `{SYMBOLS[old]}` -> `{SYMBOLS[new]}` at line {node.lineno}"


def compare_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    return [partial(_swap_compare, node, i) for node in program.nodes if isinstance(node, ast.Compare)
            for i, op in enumerate(node.ops) if type(op) in COMPARE_SWAPS]


def _swap_compare(node: ast.Compare, i: int, rng: random.Random) -> str:
    old = type(node.ops[i])
    new = rng.choice(COMPARE_SWAPS[old])
    node.ops[i] = new()
    return f"`{SYMBOLS[old]}` -> `{SYMBOLS[new]}` at line {node.lineno}"


def boolean_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    sites: list[Site] = []
    for node in program.nodes:
        if isinstance(node, ast.BoolOp):
            sites.append(partial(_swap_boolean, node))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append(partial(_unwrap, program, node, node.operand, "drop `not`"))
    return sites


def _swap_boolean(node: ast.BoolOp, rng: random.Random) -> str:
    old = type(node.op)
    new = ast.Or if old is ast.And else ast.And
    node.op = new()
    return f"`{SYMBOLS[old]}` -> `{SYMBOLS[new]}` at line {node.lineno}"


def _unwrap(program: Program, node: ast.expr, keep: ast.expr, what: str, rng: random.Random) -> str:
    _replace(program, node, keep)
    return f"{what}: `{_show(node)}` -> `{_show(keep)}` at line {node.lineno}"


def simplify_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """Expressions cut down to a part: an operand, a branch, a negated value."""
    sites: list[Site] = []
    for node in program.nodes:
        if isinstance(node, ast.BinOp):
            sites += [partial(_unwrap, program, node, node.left, "keep the left operand"),
                      partial(_unwrap, program, node, node.right, "keep the right operand")]
        elif isinstance(node, ast.IfExp):
            sites += [partial(_unwrap, program, node, node.body, "keep the `if` branch"),
                      partial(_unwrap, program, node, node.orelse, "keep the `else` branch")]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) \
                and not isinstance(node.operand, ast.Constant):
            sites.append(partial(_unwrap, program, node, node.operand, "drop the minus"))
    return sites


COPYING_METHODS = ("astype", "copy", "tolist")
COPYING_FUNCTIONS = ("array", "asarray", "ascontiguousarray", "copy")


def drop_copy_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """Conversions and copies dropped (`x.astype(t)`, `x.copy()`, `np.array(x)` -> `x`):
    the values stay, the time to copy them goes."""
    sites: list[Site] = []
    for node in program.nodes:
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in COPYING_METHODS \
                and not _is_module(program, node.func.value):
            sites.append(partial(_unwrap, program, node, node.func.value, f"drop `.{node.func.attr}(...)`"))
        elif _numpy_call(program, node, *COPYING_FUNCTIONS) and len(node.args) == 1 and not node.keywords:
            sites.append(partial(_unwrap, program, node, node.args[0], f"drop `{ast.unparse(node.func)}`"))
    return sites


def _numpy_call(program: Program, node: ast.AST, *names: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in names \
        and isinstance(node.func.value, ast.Name) and node.func.value.id == program.numpy


def _index_order(program: Program, node: ast.AST) -> bool:
    """`np.arange(n)` (a dtype keyword allowed) or `range(n)`: the indices in their order."""
    if not isinstance(node, ast.Call) or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
        return False
    if isinstance(node.func, ast.Name) and node.func.id == "range":
        return not node.keywords
    return _numpy_call(program, node, "arange") and all(k.arg == "dtype" for k in node.keywords)


def sort_keys(program: Program, node: ast.expr, length: tuple[str, int]) -> list[str]:
    """Arrays in scope as long as `length`, to sort the indices by: for a 2-D (or more)
    array, its sum and max over the other axes; for a 1-D one, itself and the other 1-D
    arrays bound before (assumed of the same length), and their ratios and products."""
    array, axis = length
    scope = program.scope_of(node)
    ndim = scope.ndim.get(array, 1)
    if ndim >= 2:
        rest = [a for a in range(ndim) if a != axis]
        over = str(rest[0]) if len(rest) == 1 else str(tuple(rest))
        return [f"{array}.sum(axis={over})", f"{array}.max(axis={over})"]
    if axis != 0:
        return []
    arrays = [array] + [n for n in program.in_scope(node, "array") if n != array and scope.ndim.get(n, 1) == 1]
    paired = arrays[:4]
    return (arrays + [f"{a} / {b}" for a in paired for b in paired if a != b]
            + [f"{a} * {b}" for i, a in enumerate(paired) for b in paired[i + 1:]])


def index_order_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    if program.numpy is None:
        return []
    sites: list[Site] = []
    for node in program.nodes:
        if _index_order(program, node):
            length = _length_of(node.args[0], program.scope_of(node), program.numpy)
            keys = sort_keys(program, node, length) if length else []
            if keys:
                sites.append(partial(_reorder, program, node, keys))
    return sites


def _negated(text: str) -> str:
    simple = isinstance(_expr(text), (ast.Name, ast.Call, ast.Attribute, ast.Subscript))
    return f"-{text}" if simple else f"-({text})"


def _reorder(program: Program, node: ast.Call, keys: list[str], rng: random.Random) -> str:
    np_ = program.numpy
    key = rng.choice(keys)
    if rng.random() < 0.5:
        key = _negated(key)
    text = f"{np_}.argsort({key})"
    if rng.random() < 0.5:      # the rank of each index rather than the index at each rank
        text = f"{np_}.argsort({text})"
    if isinstance(node.func, ast.Name):
        text += ".tolist()"
    elif node.keywords:
        text += f".astype({ast.unparse(node.keywords[0].value)})"
    _replace(program, node, _expr(text))
    return f"index order `{_show(node)}` -> `{text}` at line {node.lineno}"


def sort_order_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """Sorts turned around (key negated, result reversed, `reverse=` toggled), ranks taken
    of an argsort (argsort of argsort) or dropped, reversals dropped."""
    sites: list[Site] = []
    for node in program.nodes:
        if _numpy_call(program, node, "argsort") and node.args:
            sites += [partial(_negate_argument, node), partial(_wrap_argsort, program, node)]
            if _numpy_call(program, node.args[0], "argsort"):
                sites.append(partial(_unwrap, program, node, node.args[0], "index at each rank, not rank"))
            else:
                sites += _rekey_sites(program, node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "argsort" \
                and not _is_module(program, node.func.value):
            sites.append(partial(_negate_receiver, node))
        elif _numpy_call(program, node, "sort") and node.args:
            sites.append(partial(_reverse, program, node))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sorted":
            sites.append(partial(_toggle_reverse, node))
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.lower is None \
                and node.slice.upper is None and ast.unparse(node.slice) == "::-1":
            sites.append(partial(_unwrap, program, node, node.value, "drop the reversal"))
    return sites


def _key_length(program: Program, key: ast.expr) -> tuple[str, int] | None:
    """(array, axis) whose length a sort key has: `x.sum(axis=k)` of a 2-D x, or an
    expression of 1-D arrays (the length of the first)."""
    scope = program.scope_of(key)
    inner = key.operand if isinstance(key, ast.UnaryOp) and isinstance(key.op, ast.USub) else key
    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and isinstance(inner.func.value, ast.Name):
        array = inner.func.value.id
        axis = next((k.value.value for k in inner.keywords if k.arg == "axis" and isinstance(k.value, ast.Constant)),
                    None)
        if scope.ndim.get(array) == 2 and axis in (0, 1, -1):
            return array, 1 - axis % 2
    names = [n.id for n in ast.walk(inner) if isinstance(n, ast.Name) and scope.kinds.get(n.id) == "array"]
    if names and scope.ndim.get(names[0], 1) == 1:
        return names[0], 0
    return None


def _rekey_sites(program: Program, node: ast.Call) -> list[Site]:
    """Another key of the same length for an argsort, or the key scaled by another array."""
    length = _key_length(program, node.args[0])
    if length is None:
        return []
    current = ast.unparse(node.args[0])
    keys = [k for k in sort_keys(program, node, length) if k != current and _negated(k) != current]
    sites: list[Site] = [partial(_rekey, node, keys)] if keys else []
    if program.scope_of(node).ndim.get(length[0], 1) == 1:
        used = {n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)}
        scales = [n for n in program.in_scope(node, "array")
                  if n not in used and program.scope_of(node).ndim.get(n, 1) == 1]
        if scales:
            sites.append(partial(_scale_key, node, scales))
    return sites


def _rekey(node: ast.Call, keys: list[str], rng: random.Random) -> str:
    old = node.args[0]
    key = rng.choice(keys)
    node.args[0] = _expr(_negated(key) if rng.random() < 0.5 else key)
    return f"sort key `{_show(old)}` -> `{_show(node.args[0])}` at line {node.lineno}"


def _scale_key(node: ast.Call, scales: list[str], rng: random.Random) -> str:
    old = node.args[0]
    op = rng.choice(("*", "/"))
    node.args[0] = _expr(f"({ast.unparse(old)}) {op} {rng.choice(scales)}")
    return f"sort key `{_show(old)}` -> `{_show(node.args[0])}` at line {node.lineno}"


def _negate_argument(node: ast.Call, rng: random.Random) -> str:
    old = node.args[0]
    new = old.operand if isinstance(old, ast.UnaryOp) and isinstance(old.op, ast.USub) else ast.UnaryOp(ast.USub(), old)
    node.args[0] = new
    return f"sort key `{_show(old)}` -> `{_show(new)}` at line {node.lineno}"


def _negate_receiver(node: ast.Call, rng: random.Random) -> str:
    old = node.func.value
    new = old.operand if isinstance(old, ast.UnaryOp) and isinstance(old.op, ast.USub) else ast.UnaryOp(ast.USub(), old)
    node.func.value = new
    return f"sort key `{_show(old)}` -> `{_show(new)}` at line {node.lineno}"


def _wrap_argsort(program: Program, node: ast.Call, rng: random.Random) -> str:
    new = ast.Call(func=copy.deepcopy(node.func), args=[node], keywords=[])
    _replace(program, node, new)
    return f"rank, not index at each rank: `{_show(node)}` -> `{_show(new)}` at line {node.lineno}"


def _reverse(program: Program, node: ast.Call, rng: random.Random) -> str:
    new = _expr(f"({ast.unparse(node)})[::-1]")
    _replace(program, node, new)
    return f"sort descending: `{_show(new)}` at line {node.lineno}"


def _toggle_reverse(node: ast.Call, rng: random.Random) -> str:
    kept = [k for k in node.keywords if k.arg != "reverse"]
    was = next((k for k in node.keywords if k.arg == "reverse"), None)
    on = not (was is not None and isinstance(was.value, ast.Constant) and was.value.value)
    node.keywords = kept + ([ast.keyword(arg="reverse", value=ast.Constant(True))] if on else [])
    return f"sorted {'descending' if on else 'ascending'} at line {node.lineno}"


FAMILIES = (("sum", "mean", "max", "min"), ("argmax", "argmin"), ("maximum", "minimum"), ("amax", "amin"),
            ("cumsum", "cumprod"), ("floor", "ceil", "round", "rint"), ("nanmax", "nanmin"))
AXES = (0, 1, -1)


def reduction_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """Reductions exchanged within their family (sum/mean/max/min, argmax/argmin, ...) and
    the axes they run along."""
    sites: list[Site] = []
    for node in program.nodes:
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and any(func.attr in f for f in FAMILIES):
            sites.append(partial(_swap_reduction, func, "attr"))
        elif isinstance(func, ast.Name) and func.id in ("max", "min"):
            sites.append(partial(_swap_reduction, func, "id"))
        for k in node.keywords:
            if k.arg == "axis" and isinstance(k.value, ast.Constant) and type(k.value.value) is int:
                sites.append(partial(_change_axis, k.value))
    return sites


def _swap_reduction(func: ast.Attribute | ast.Name, field_name: str, rng: random.Random) -> str:
    old = getattr(func, field_name)
    family = next(f for f in FAMILIES if old in f) if field_name == "attr" else ("max", "min")
    new = rng.choice([name for name in family if name != old])
    setattr(func, field_name, new)
    return f"`{old}` -> `{new}` at line {func.lineno}"


def _change_axis(value: ast.Constant, rng: random.Random) -> str:
    old = value.value
    value.value = rng.choice([a for a in AXES if a != old])
    return f"axis `{old}` -> `{value.value}` at line {value.lineno}"


def serpentine_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """Round-robin dealing `i % n` turned serpentine (0, 1, .., n-1, n-1, .., 0, 0, 1, ..),
    which pairs the first items dealt with the last."""
    if program.numpy is None:
        return []
    return [partial(_serpentine, program, node) for node in program.nodes
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod)
            and value_kind(node.left, program.scope_of(node), program.numpy) != "scalar"]


def _serpentine(program: Program, node: ast.BinOp, rng: random.Random) -> str:
    # With r = i % 2n: min(r, 2n - 1 - r) = (2n - 1 - |2r - 2n + 1|) // 2, which reads i once,
    # so later edits of the items dealt stay consistent.
    items, n = ast.unparse(node.left), ast.unparse(node.right)
    if not isinstance(node.right, (ast.Name, ast.Constant, ast.Call, ast.Attribute, ast.Subscript)):
        n = f"({n})"
    text = f"(2 * {n} - 1 - {program.numpy}.abs(2 * (({items}) % (2 * {n})) - 2 * {n} + 1)) // 2"
    _replace(program, node, _expr(text))
    return f"serpentine dealing `{_show(node)}` at line {node.lineno}"


FIXED = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Return, ast.Global,
         ast.Nonlocal)


def _docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _self_referential(stmt: ast.stmt) -> bool:
    """An update whose repetition changes something: `x += 1`, `x = x * 2`, `xs.append(y)`."""
    if isinstance(stmt, ast.AugAssign):
        return True
    if isinstance(stmt, ast.Assign):
        stored = {n.id for t in stmt.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        return any(isinstance(n, ast.Name) and n.id in stored for n in ast.walk(stmt.value))
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)


def statement_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """Statements deleted, repeated (updates only) or swapped with the next one."""
    sites: list[Site] = []
    for body, indices in program.bodies:
        for i in indices:
            stmt = body[i]
            if isinstance(stmt, FIXED) or _docstring(stmt):
                continue
            if len(body) >= 2:
                sites.append(partial(_delete, body, i))
            if _self_referential(stmt):
                sites.append(partial(_duplicate, body, i))
            if i + 1 in indices and not isinstance(body[i + 1], FIXED) and not _docstring(body[i + 1]):
                sites.append(partial(_swap_statements, body, i))
    return sites


def _delete(body: list[ast.stmt], i: int, rng: random.Random) -> str:
    stmt = body.pop(i)
    return f"delete `{_show(stmt)}` at line {stmt.lineno}"


def _duplicate(body: list[ast.stmt], i: int, rng: random.Random) -> str:
    body.insert(i + 1, copy.deepcopy(body[i]))
    return f"repeat `{_show(body[i])}` at line {body[i].lineno}"


def _swap_statements(body: list[ast.stmt], i: int, rng: random.Random) -> str:
    body[i], body[i + 1] = body[i + 1], body[i]
    return f"swap the statements at lines {body[i + 1].lineno} and {body[i].lineno}"


def name_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """A name read replaced by another name of the same kind (array or scalar) bound before."""
    sites: list[Site] = []
    for node in program.nodes:
        if not isinstance(node, ast.Name) or not isinstance(node.ctx, ast.Load):
            continue
        parent = program.parents.get(id(node))
        if isinstance(parent, ast.Call) and parent.func is node:
            continue
        kind = program.scope_of(node).kinds.get(node.id)
        others = [n for n in program.in_scope(node, kind) if n != node.id] if kind else []
        if others:
            sites.append(partial(_rename, node, others))
    return sites


def _rename(node: ast.Name, others: list[str], rng: random.Random) -> str:
    old = node.id
    node.id = rng.choice(others)
    return f"`{old}` -> `{node.id}` at line {node.lineno}"


# ---- crossover ----

def _functions(tree: ast.AST, prefix: str = "") -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions and methods by qualified name, nested ones included."""
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for stmt in getattr(tree, "body", []):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found[prefix + stmt.name] = stmt
            found.update(_functions(stmt, f"{prefix}{stmt.name}."))
        elif isinstance(stmt, ast.ClassDef):
            found.update(_functions(stmt, f"{prefix}{stmt.name}."))
    return found


def crossover_sites(program: Program, mates: list[ast.Module]) -> list[Site]:
    """From each other program: a function of the same name taken whole, or runs of the
    statements where a body (the module's or a function's) differs."""
    editable = {id(body): set(indices) for body, indices in program.bodies}
    editable_nodes = {id(n) for n in program.nodes}
    mine = _functions(program.tree)
    sites: list[Site] = []
    for mate in mates:
        theirs = _functions(mate)
        pairs = [("the module", program.tree.body, mate.body)]
        pairs += [(f"`{name}`", fn.body, theirs[name].body) for name, fn in mine.items() if name in theirs]
        for label, body, other in pairs:
            if id(body) in editable and _runs(body, other, editable[id(body)]):
                sites.append(partial(_merge, label, body, other, editable[id(body)]))
        for name, fn in mine.items():
            if id(fn) in editable_nodes and name in theirs and ast.dump(fn) != ast.dump(theirs[name]):
                sites.append(partial(_take_function, program, fn, theirs[name]))
    return sites


def _runs(body: list[ast.stmt], other: list[ast.stmt], editable: set[int]) -> list[tuple]:
    """The differing runs between two bodies that touch only editable statements."""
    matcher = difflib.SequenceMatcher(None, [ast.dump(s) for s in body], [ast.dump(s) for s in other],
                                      autojunk=False)
    runs = []
    for op in matcher.get_opcodes():
        tag, i1, i2 = op[:3]
        touched = range(i1, i2) if i2 > i1 else [i for i in (i1 - 1, i1) if 0 <= i < len(body)]
        if tag != "equal" and touched and all(i in editable for i in touched):
            runs.append(op)
    return runs


def _merge(label: str, body: list[ast.stmt], other: list[ast.stmt], editable: set[int],
           rng: random.Random) -> str | None:
    runs = _runs(body, other, editable)
    chosen = [op for op in runs if rng.random() < 0.5] or [rng.choice(runs)]
    matcher = difflib.SequenceMatcher(None, [ast.dump(s) for s in body], [ast.dump(s) for s in other],
                                      autojunk=False)
    merged: list[ast.stmt] = []
    for op in matcher.get_opcodes():
        _, i1, i2, j1, j2 = op
        merged += copy.deepcopy(other[j1:j2]) if op in chosen else body[i1:i2]
    if not merged:
        return None
    body[:] = merged
    return f"{len(chosen)} run(s) of statements of {label} taken from another program"


def _take_function(program: Program, fn: ast.FunctionDef, theirs: ast.FunctionDef, rng: random.Random) -> str:
    _replace(program, fn, copy.deepcopy(theirs))
    return f"function `{fn.name}` taken from another program"


SITES: dict[str, Callable[[Program, list[ast.Module]], list[Site]]] = {
    "constant": constant_sites,
    "operator": operator_sites,
    "compare": compare_sites,
    "boolean": boolean_sites,
    "simplify": simplify_sites,
    "drop_copy": drop_copy_sites,
    "index_order": index_order_sites,
    "sort_order": sort_order_sites,
    "reduction": reduction_sites,
    "serpentine": serpentine_sites,
    "statement": statement_sites,
    "name": name_sites,
    "crossover": crossover_sites,
}
