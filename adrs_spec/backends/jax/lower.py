"""IR expressions -> lines of plain array code, the way a person writes fast JAX.

Each sub-expression becomes an array over the index variables free in it (axes in binding
order), combined by broadcasting. A tensor read at its own index variables is the tensor
itself; indirect reads are clamped gathers; reductions reduce trailing axes. Two shapes
of reduction get faster forms (see patterns): `count/sum(p: X[.., p] == e)` becomes
a segment sum, and a read over a block range `p in g * k .. (g + 1) * k` a reshape.
Index ranges come in three kinds, each an axis of the arrays:
- full: bounds over statics only, values `arange(lo, hi)`;
- shift: bounds depend on outer indices but the width does not (`p = lo + q`, q in 0 .. width);
- mask: the width varies too; the axis spans the widest range and a mask keeps the valid part.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from adrs_spec.lang import ir
from adrs_spec.backends.jax import patterns
from adrs_spec.backends.jax.emit import ATOM, NOT, SUM, UNARY, FunctionBody, Val, binary, kind_of, py_name, wrap, xp
from adrs_spec.backends.jax.polynomials import _strip, mentions_index, poly, poly_code, poly_sub, poly_text, same_expr
from adrs_spec.lang.text import spec_text
from adrs_spec.errors import CompilerBug, SpecError
from adrs_spec.lang.ir import free_indices, reads_data

FLOAT = "s.float_dtype"
INT = "s.int_dtype"
_COMPARE = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True)
class Axis:
    """One bound index variable: an axis of the arrays that depend on it."""

    key: str                   # the Python name of its values array, unique in the function
    var: ir.IndexVar
    kind: str                  # "full" | "shift" | "mask"
    size: str                  # code for its length
    label: str                 # its length in spec words, for shape comments
    deps: tuple[str, ...] = ()     # shift: the outer axes its values depend on
    mask_vars: tuple[str, ...] = ()   # mask: the axes of its in-range mask
    nonempty: bool = False         # full: provably at least one value (params' declared ranges)
    traced: bool = False           # its values move with a step block's (traced) index

    @property
    def zero_based(self) -> bool:
        return self.kind == "full" and isinstance(self.var.lo, ir.Const) and self.var.lo.value == 0


class Lowerer:
    """Lowers the expressions of one generated function into its body."""

    def __init__(self, spec: ir.Spec, body: FunctionBody, tensors: dict[str, str], static: str = "s.{}"):
        self.spec = spec
        self.out = body
        self.tensors = tensors          # spec tensor name -> local Python name
        self.static = static            # how a static is spelled (`s.layers` or `layers`)
        self.axes: dict[str, Axis] = {}
        self.position: dict[str, int] = {}
        self.scope: dict[str, str] = {}     # index name -> axis key
        self.defined: set[str] = set()
        self.memo: dict[object, Val] = {}
        self.plane_indices: set[str] = set()   # indices read from tensors cut to their plane
        self.scalars: dict[str, ir.IndexVar] = {}   # a step block's index: a traced scalar, no axis
        self.rows: set[str] = set()             # a step block's lets, read at the current step

    # ---- scopes and axes ----
    @contextmanager
    def bind(self, vars_: tuple[ir.IndexVar, ...]):
        saved = dict(self.scope)
        keys = []
        try:
            for v in vars_:
                axis = self._axis(v)
                self.axes[axis.key] = axis
                self.position[axis.key] = len(self.position)
                self.scope[v.name] = axis.key
                keys.append(axis.key)
            yield tuple(keys)
        finally:
            self.scope = saved

    def _axis(self, v: ir.IndexVar) -> Axis:
        if reads_data(v.lo) or reads_data(v.hi):
            raise SpecError(f"the range of `{v.name}` reads tensor data; the JAX backend needs ranges "
                            f"over params and enclosing indices", v.span,
                            notes=("use a condition instead, e.g. `r < logcnt[l, e] implies ...`",))
        key = self.out.fresh(v.name)
        if not free_indices(v.lo) and not free_indices(v.hi):
            return self._full_axis(key, v)
        if (free_indices(v.lo) | free_indices(v.hi)) & self.scalars.keys():
            return self._step_axis(key, v)
        lo, hi = poly(v.lo), poly(v.hi)
        if lo is not None and hi is not None and not mentions_index(poly_sub(hi, lo)):
            return self._shift_axis(key, v, poly_sub(hi, lo))
        return self._mask_axis(key, v)

    def _full_axis(self, key: str, v: ir.IndexVar) -> Axis:
        hi = self.lower(v.hi)
        if isinstance(v.lo, ir.Const) and v.lo.value == 0:
            return Axis(key, v, "full", hi.code, spec_text(v.hi), nonempty=self._positive(v.hi))
        lo = self.lower(v.lo)
        size = binary("-", hi.code, hi.prec, lo.code, lo.prec)[0]
        return Axis(key, v, "full", f"max(0, {size})", f"{spec_text(v.hi)} - {spec_text(v.lo)}")

    def _positive(self, e: ir.Expr) -> bool:
        """Whether a static is at least 1 for every value the params may take."""
        if isinstance(e, ir.Const):
            return e.value >= 1
        if isinstance(e, ir.Static) and e.name in {p.name for p in self.spec.params}:
            lo = self.spec.param(e.name).lo
            return lo is not None and lo >= 1
        return False

    def _shift_axis(self, key: str, v: ir.IndexVar, width: dict) -> Axis:
        size = poly_code(width, self.static)
        single = len(width) == 1 and next(iter(width.values())) > 0
        size = size if single else f"max(0, {size})"
        deps = self.order(self.scope[n] for n in free_indices(v.lo))
        return Axis(key, v, "shift", size, poly_text(width), deps=deps)

    def _mask_axis(self, key: str, v: ir.IndexVar) -> Axis:
        lo, hi = self.lower(v.lo), self.lower(v.hi)
        self.out.comment(f"fallback: the width of `{v.name}`'s range varies; span the widest range and mask")
        self.out.line(f"{key} = rt.widest_range({lo.code}, {hi.code})", f"({v.name} range,)")
        mask_vars = tuple(sorted(set(lo.vars) | set(hi.vars), key=self.position.__getitem__))
        axis = Axis(key, v, "mask", f"len({key})", f"{v.name} range", mask_vars=mask_vars + (key,))
        self.axes[key] = axis
        full = axis.mask_vars
        self.out.line(f"{key}_in = ({self.align(lo, full)} <= {key}) & ({key} < {self.align(hi, full)})",
                      self._shape(full))
        self.defined.add(key)
        return axis

    def _step_axis(self, key: str, v: ir.IndexVar) -> Axis:
        """A range that moves with the step index: a shift when its width is fixed, else the widest
        range over every step (bounds linear in the step index reach theirs at the first or last
        step) and a mask."""
        lo, hi = poly(v.lo), poly(v.hi)
        outer = (free_indices(v.lo) | free_indices(v.hi)) - self.scalars.keys()
        if lo is not None and hi is not None and not mentions_index(poly_sub(hi, lo)) and not outer:
            width = poly_sub(hi, lo)
            size = poly_code(width, self.static)
            single = len(width) == 1 and next(iter(width.values())) > 0
            return Axis(key, v, "shift", size if single else f"max(0, {size})", poly_text(width), traced=True)
        if lo is None or hi is None or outer or not all(_linear_in(p, self.scalars) for p in (lo, hi)):
            raise SpecError(f"the range of `{v.name}` moves with the step index in a way the JAX backend does not "
                            f"lower; it needs bounds linear in the step index (`k in 0 .. i`, `k in i - 3 .. i`)",
                            v.span)
        ends = []
        for bound in (v.lo, v.hi):
            for at_end in (False, True):
                ends.append(self.lower(self._at_step_end(bound, at_end)).code)
        self.out.comment(f"`{v.name}` spans its widest range over every step, masked to this step's")
        self.out.line(f"{key} = np.arange(min({ends[0]}, {ends[1]}), max({ends[2]}, {ends[3]}))",
                      f"({v.name} range,)")
        axis = Axis(key, v, "mask", f"len({key})", f"{v.name} range", mask_vars=(key,))
        self.axes[key] = axis
        lo_code, hi_code = self.lower(v.lo), self.lower(v.hi)
        self.out.line(f"{key}_in = ({wrap(lo_code.code, lo_code.prec, 5 + 1)} <= {key}) & "
                      f"({key} < {wrap(hi_code.code, hi_code.prec, 5 + 1)})", f"({v.name} range,)")
        self.defined.add(key)
        return axis

    def _at_step_end(self, e: ir.Expr, last: bool) -> ir.Expr:
        """`e` with each step index replaced by its first (or last) value."""
        if isinstance(e, ir.Index) and e.name in self.scalars:
            var = self.scalars[e.name]
            if not last:
                return var.lo
            return ir.Binary("-", var.hi, ir.Const(1, "int", e.span), "int", e.span)
        if isinstance(e, ir.Binary):
            return ir.Binary(e.op, self._at_step_end(e.left, last), self._at_step_end(e.right, last), e.dtype, e.span)
        if isinstance(e, ir.Unary):
            return ir.Unary(e.op, self._at_step_end(e.operand, last), e.dtype, e.span)
        return e

    def index_value(self, key: str) -> Val:
        """The values an index variable takes, as an array over its axis (and its deps)."""
        axis = self.axes[key]
        if key not in self.defined and axis.kind == "shift" and axis.traced:
            lo = self.lower(axis.var.lo)
            self.out.line(f"{key} = {wrap(lo.code, lo.prec, SUM)} + np.arange({axis.size})",
                          f"({axis.label},) moves with the step")
            self.defined.add(key)
        if axis.traced:
            return Val(key, (key,), "int", "jnp")
        if key not in self.defined and axis.kind == "shift":
            deps = ", ".join(self.axes[d].var.name for d in axis.deps)
            self.out.comment(f"`{axis.var.name}` runs over a block of width {axis.label} that moves "
                             f"with {deps}: start + offset")
            lo = self.lower(axis.var.lo)
            values = f"{self.align(lo, axis.deps + (key,), SUM)} + np.arange({axis.size})"
            self.out.line(f"{key} = {values}", self._shape(axis.deps, extra=(axis.label,)))
            self.defined.add(key)
        if key not in self.defined:
            lo = self.lower(axis.var.lo).code
            hi = self.lower(axis.var.hi).code
            code = f"np.arange({hi})" if axis.zero_based else f"np.arange({lo}, {hi})"
            self.out.line(f"{key} = {code}", f"({axis.label},)")
            self.defined.add(key)
        if axis.kind == "shift":
            return Val(key, axis.deps + (key,), "int", "np")
        return Val(key, (key,), "int", "np")

    def range_mask(self, key: str) -> Val | None:
        axis = self.axes[key]
        return Val(f"{key}_in", axis.mask_vars, "bool", "np") if axis.kind == "mask" else None

    # ---- broadcasting ----
    def order(self, keys) -> tuple[str, ...]:
        return tuple(sorted(set(keys), key=self.position.__getitem__))

    def union(self, *vals: Val | None) -> tuple[str, ...]:
        return self.order(k for v in vals if v is not None for k in v.vars)

    def align(self, val: Val, target: tuple[str, ...], need: int = 0) -> str:
        """`val` indexed so that it broadcasts against arrays over `target` (a superset of its axes),
        parenthesised for a context that needs precedence `need`."""
        return wrap(*self.aligned(val, target), need)

    def aligned(self, val: Val, target: tuple[str, ...]) -> tuple[str, int]:
        if val.kind == "py" or not val.vars:
            return val.code, val.prec
        pattern = [":" if k in val.vars else "None" for k in target]
        while pattern and pattern[0] == "None":
            pattern.pop(0)
        while pattern and pattern[-1] == ":":
            pattern.pop()
        if not pattern:
            return val.code, val.prec
        return f"{wrap(val.code, val.prec, ATOM)}[{', '.join(pattern)}]", ATOM

    def shape_code(self, keys: tuple[str, ...]) -> str:
        sizes = [self.axes[k].size for k in keys]
        return f"({sizes[0]},)" if len(sizes) == 1 else f"({', '.join(sizes)})"

    def full(self, code: str, have: tuple[str, ...], target: tuple[str, ...], module: str) -> str:
        """`code` (over axes `have`, aligned to target) broadcast to the full shape of `target`."""
        if set(have) == set(target):
            return code
        return f"{module}.broadcast_to({code}, {self.shape_code(target)})"

    def _shape(self, keys: tuple[str, ...], extra: tuple[str, ...] = ()) -> str:
        labels = [self.axes[k].label for k in keys] + list(extra)
        return f"({labels[0]},)" if len(labels) == 1 else f"({', '.join(labels)})"

    def assign(self, base: str, val: Val, note: str = "") -> Val:
        """Bind `val` to a fresh local with a shape comment."""
        if val.code.isidentifier():
            return val
        name = self.out.fresh(base)
        comment = self._shape(val.vars) + (f" {note}" if note else "")
        self.out.line(f"{name} = {val.code}", comment)
        return Val(name, val.vars, val.dtype, val.kind)

    # ---- expressions ----
    def lower(self, e: ir.Expr) -> Val:
        memo_key = None
        if isinstance(e, (ir.Read, ir.Reduce)):
            memo_key = (_strip(e), tuple(sorted((n, self.scope.get(n)) for n in free_indices(e))))
            if memo_key in self.memo:
                return self.memo[memo_key]
        method = getattr(self, "_" + type(e).__name__.lower(), None)
        if method is None:
            raise CompilerBug(f"the JAX backend cannot lower {type(e).__name__} here")
        val = method(e)
        if len(val.code) > 80:
            val = self.assign("part", val)
        if memo_key is not None:
            self.memo[memo_key] = val
        return val

    def _const(self, e: ir.Const) -> Val:
        v = e.value
        if isinstance(v, float) and v != v:
            return Val("np.nan", (), e.dtype, "py")
        if isinstance(v, float) and v in (float("inf"), float("-inf")):
            return Val("np.inf" if v > 0 else "-np.inf", (), e.dtype, "py", UNARY if v < 0 else ATOM)
        return Val(repr(v), (), e.dtype, "py", UNARY if not isinstance(v, bool) and v < 0 else ATOM)

    def _static(self, e: ir.Static) -> Val:
        return Val(self.static.format(py_name(e.name)), (), e.dtype, "py")

    def _index(self, e: ir.Index) -> Val:
        if e.name in self.scalars and e.name not in self.scope:
            return Val(py_name(e.name), (), "int", "jnp")
        if e.name not in self.scope:
            raise CompilerBug(f"index `{e.name}` is not bound")
        return self.index_value(self.scope[e.name])

    def _unary(self, e: ir.Unary) -> Val:
        a = self.lower(e.operand)
        if e.op == "-":
            return Val(f"-{wrap(a.code, a.prec, UNARY)}", a.vars, e.dtype, a.kind, UNARY)
        if a.kind == "py":
            return Val(f"not {wrap(a.code, a.prec, NOT + 1)}", a.vars, "bool", a.kind, NOT)
        return Val(f"~{wrap(a.code, a.prec, UNARY)}", a.vars, "bool", a.kind, UNARY)

    def _binary(self, e: ir.Binary) -> Val:
        a, b = self.lower(e.left), self.lower(e.right)
        keys = self.union(a, b)
        kind = kind_of(a, b)
        (x, xp_), (y, yp) = self.aligned(a, keys), self.aligned(b, keys)
        op = e.op
        # Python's own operators where they agree with the language; helpers where a zero
        # divisor would raise (scalars) or disagree (integer arrays).
        if (op == "/" and kind == "py") or (op in ("//", "%") and kind != "py"):
            fn = {"/": "divide", "//": "floor_divide", "%": "mod"}[op]
            return Val(f"rt.{fn}({x}, {y})", keys, e.dtype, kind)
        if op == "~=":
            return Val(f"rt.approx_equal({x}, {y}, {self.spec.tolerance!r})", keys, e.dtype, kind)
        if op == "implies":
            if a.kind == "py":
                x, xp_ = f"not {wrap(x, xp_, NOT + 1)}", NOT
            else:
                x, xp_ = f"~{wrap(x, xp_, UNARY)}", UNARY
            op = "|"
        op = {"and": "&", "or": "|"}.get(op, op)
        return self._val(binary(op, x, xp_, y, yp), keys, e.dtype, kind)

    @staticmethod
    def _val(code_prec: tuple[str, int], keys, dtype, kind) -> Val:
        return Val(code_prec[0], keys, dtype, kind, code_prec[1])

    def _select(self, e: ir.Select) -> Val:
        c, a, b = self.lower(e.cond), self.lower(e.then), self.lower(e.else_)
        keys = self.union(c, a, b)
        if kind_of(c, a, b) == "py":
            return Val(f"({a.code} if {c.code} else {b.code})", (), e.dtype, "py")
        module = xp(c, a, b)
        code = f"{module}.where({self.align(c, keys)}, {self.align(a, keys)}, {self.align(b, keys)})"
        return self.assign("chosen", Val(code, keys, e.dtype, kind_of(c, a, b)))

    def _call(self, e: ir.Call) -> Val:
        args = [self.lower(a) for a in e.args]
        keys = self.union(*args)
        kind = kind_of(*args)
        codes = [self.align(a, keys) for a in args]
        module = xp(*args)
        x = codes[0]
        x_atom = self.align(args[0], keys, ATOM)
        fn = e.fn
        if fn == "abs":
            code = f"abs({x})"
        elif fn in ("sqrt", "exp", "log"):
            code = f"{module}.{fn}({x})"
            kind = "np" if kind == "py" else kind
        elif fn in ("floor", "ceil"):
            if args[0].dtype == "int":
                return args[0]
            code = f"{module}.{fn}({x}).astype({self._int(kind)})"
            kind = "np" if kind == "py" else kind
        elif fn == "float":
            if args[0].dtype == "float":
                return args[0]
            if isinstance(e.args[0], ir.Const):
                return Val(repr(float(e.args[0].value)), (), "float", "py", args[0].prec)
            code = f"float({x})" if kind == "py" else \
                f"{x_atom}.astype({FLOAT if kind == 'jnp' else 'np.float64'})"
        elif fn == "int":
            if args[0].dtype == "int":
                return args[0]
            code = f"int({x})" if kind == "py" else f"{x_atom}.astype({self._int(kind)})"
        elif fn in ("min", "max"):
            code = f"{fn}({x}, {codes[1]})" if kind == "py" else \
                f"{module}.{'minimum' if fn == 'min' else 'maximum'}({x}, {codes[1]})"
        elif fn == "clip":
            code = f"min(max({x}, {codes[1]}), {codes[2]})" if kind == "py" else \
                f"{module}.clip({x}, {codes[1]}, {codes[2]})"
        else:
            raise CompilerBug(f"unknown function {fn}")
        return Val(code, keys, e.dtype, kind)

    def _int(self, kind: str) -> str:
        return INT if kind == "jnp" else "np.int64"

    # ---- reads ----
    def _read(self, e: ir.Read) -> Val:
        name = self.tensors[e.tensor]
        if e.tensor in self.rows:          # a step block's let, at the current step: its local row
            e = ir.Read(e.tensor, e.indices[1:], e.dtype, e.span)
        if not e.indices:
            return Val(name, (), e.dtype, "jnp")
        whole = self._whole_read(e, name)
        if whole is not None:
            return whole
        blocks = patterns.block_read(self, e, name)
        if blocks is not None:
            return blocks
        return self._gather(e, name)

    def is_whole_dim(self, index: ir.Expr, dim: ir.Expr) -> bool:
        """Whether `index` is an index variable ranging exactly over 0 .. dim (or one that the
        caller has cut the tensors down to, see `plane_indices`)."""
        if not isinstance(index, ir.Index):
            return False
        if index.name in self.plane_indices:
            return True
        if index.name not in self.scope:
            return False
        axis = self.axes[self.scope[index.name]]
        return axis.zero_based and same_expr(axis.var.hi, dim)

    def _whole_read(self, e: ir.Read, name: str) -> Val | None:
        """`x[l, p]` at its own index variables: the array itself, transposed if need be."""
        shape = self.spec.tensor(e.tensor).shape
        if not all(self.is_whole_dim(i, d) for i, d in zip(e.indices, shape)):
            return None
        keys = tuple(self.scope[i.name] for i in e.indices)
        if len(set(keys)) != len(keys):
            return None
        return self.transposed(Val(name, keys, e.dtype, "jnp"))

    def transposed(self, val: Val) -> Val:
        """`val` with its axes put in binding order."""
        ordered = self.order(val.vars)
        if ordered == val.vars:
            return val
        perm = tuple(val.vars.index(k) for k in ordered)
        return Val(f"jnp.transpose({val.code}, {perm})", ordered, val.dtype, val.kind)

    def _gather(self, e: ir.Read, name: str) -> Val:
        """An indirect read: every index an integer array, clamped to the dimension."""
        shape = self.spec.tensor(e.tensor).shape
        indices = [self.lower(i) for i in e.indices]
        sliced = self._scalar_slice(e, name, indices, shape)
        if sliced is not None:
            return sliced
        keys = self.union(*indices)
        codes = []
        clamped = False
        for index, val, dim in zip(e.indices, indices, shape):
            code = self.align(val, keys)
            if not self.is_whole_dim(index, dim):
                last = binary("-", *self._code_prec(self.lower(dim)), "1", ATOM)[0]
                code = f"{xp(val)}.clip({code}, 0, {last})"
                clamped = True
            codes.append(code)
        val = Val(f"{name}[{', '.join(codes)}]", keys, e.dtype, "jnp")
        return self.assign(e.tensor + "_at", val, "clamped gather" if clamped else "gather")

    def _scalar_slice(self, e: ir.Read, name: str, indices: list[Val], shape) -> Val | None:
        """`x[t, j]` with t a scalar (a step block's) and j running over its whole dimension: the
        slice `x[t, :]` rather than a gather of every point (much cheaper in a scan)."""
        whole = [self.is_whole_dim(i, d) for i, d in zip(e.indices, shape)]
        if not any(whole) or all(whole) or any(v.vars for v, w in zip(indices, whole) if not w):
            return None
        keys = tuple(self.scope[i.name] for i, w in zip(e.indices, whole) if w)
        if len(set(keys)) != len(keys):
            return None
        codes = []
        for index, val, dim, w in zip(e.indices, indices, shape, whole):
            if w:
                codes.append(":")
            else:
                last = binary("-", *self._code_prec(self.lower(dim)), "1", ATOM)[0]
                codes.append(f"{xp(val)}.clip({val.code}, 0, {last})")
        val = self.assign(e.tensor + "_at", Val(f"{name}[{', '.join(codes)}]", keys, e.dtype, "jnp"), "clamped slice")
        return self.transposed(val)

    @staticmethod
    def _code_prec(val: Val) -> tuple[str, int]:
        return val.code, val.prec

    # ---- reductions ----
    def _reduce(self, e: ir.Reduce) -> Val:
        fast = patterns.segment_reduce(self, e)
        if fast is not None:
            return fast
        with self.bind(e.vars) as keys:
            body = self.lower(e.body)
            conds = [self.lower(e.where)] if e.where is not None else []
            conds += [m for m in (self.range_mask(k) for k in keys) if m is not None]
            cond = self.conjoin(conds)
            outer = tuple(k for k in self.union(body, cond) if k not in keys)
            target = outer + keys
            code = self._reduce_code(e, body, cond, target, keys)
        name = f"{e.op}_{'_'.join(v.name for v in e.vars)}"
        return self.assign(name, Val(code, outer, e.dtype, kind_of(body, cond)))

    def conjoin(self, conds: list[Val]) -> Val | None:
        if not conds:
            return None
        out = conds[0]
        for c in conds[1:]:
            keys = self.union(out, c)
            out = self._val(binary("&", *self.aligned(out, keys), *self.aligned(c, keys)), keys, "bool",
                            kind_of(out, c))
        return out

    def _reduce_code(self, e: ir.Reduce, body: Val, cond: Val | None, target, keys) -> str:
        module = xp(body, cond)
        count = len(keys)
        axis = "-1" if count == 1 else "(" + ", ".join(str(-i) for i in range(count, 0, -1)) + ")"
        b, bp = self.aligned(body, target)
        c, cp = self.aligned(cond, target) if cond is not None else (None, ATOM)
        have = self.union(body, cond)
        op = e.op
        if op in ("max", "min"):
            b = self.full(b, body.vars, target, module)
            where = f", where={c}" if c is not None else ""
            nonempty = cond is None and all(self.axes[k].nonempty for k in keys)
            init = "" if nonempty else f", initial={self._extreme(op, body, module)}"
            return f"{module}.{op}({b}, axis={axis}{where}{init})"
        if op == "mean":
            if c is not None:
                return f"rt.masked_mean({self.full(b, body.vars, target, module)}, {c}, axis={axis})"
            dtype = "" if body.dtype == "float" else \
                f", dtype={FLOAT if module == 'jnp' else 'np.float64'}"
            return f"{module}.mean({self.full(b, have, target, module)}, axis={axis}{dtype})"
        if c is None:
            inner = b
        elif op in ("sum", "prod"):
            inner = f"{module}.where({c}, {b}, {0 if op == 'sum' else 1})"
        elif op in ("count", "any"):
            inner = binary("&", b, bp, c, cp)[0]
        elif op == "all":
            inner = binary("|", b, bp, f"~{wrap(c, cp, UNARY)}", UNARY)[0]
        else:
            raise CompilerBug(f"unknown reduction {op}")
        fn = {"count": "sum"}.get(op, op)
        return f"{module}.{fn}({self.full(inner, have, target, module)}, axis={axis})"

    def _extreme(self, op: str, body: Val, module: str) -> str:
        sign = "-" if op == "max" else ""
        if body.dtype == "float":
            return f"{sign}{module}.inf"
        dtype = INT if module == "jnp" else "np.int64"
        return f"{module}.iinfo({dtype}).{'min' if op == 'max' else 'max'}"


def _linear_in(p: dict, scalars) -> bool:
    """Whether the polynomial `p` is linear in the step indices (no product with one)."""
    return all(sum(1 for kind, name in m if kind == "i" and name in scalars) <= 1 and
               (len(m) == 1 or not any(kind == "i" and name in scalars for kind, name in m)) for m in p)
