"""Symmetries of one optimisation problem, proven by Z3, and the constraints that break them.

An exact optimum needs a proof that nothing beats the best output found; the solver's search
for one explores every relabelling of the same output (EPLB: the slots of one GPU in any
order, the GPUs in any order; placement: the GPUs renamed), which makes that proof grow
with the factorial of the size. Two kinds of symmetry are looked for, on the int outputs:

- positions: swapping elements i and i + 1 of a one-dimensional output (other dimensions
  of size 1) maps every valid output to a valid output of the same objective value. Runs
  of such positions may be put in order (x[i] <= x[i + 1]); equal-length neighbouring runs
  that swap as blocks may be ordered by their first elements;
- values: renaming value v to v + 1 (and back) everywhere in an output is such a map. A run
  of interchangeable values may be used in order of first appearance (value precedence).

Each candidate swap is a Z3 query: under the problem's constraints F, is F or the objective
changed by it? Only a swap proven harmless (unsat) is used; an unknown is not. An output
tensor gets one kind of symmetry breaking at most, so the constraints stay compatible: any
output can be brought into the chosen canonical form by the proven swaps, so the optimum is
unchanged.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import z3

from adrs_spec.backends.z3.encode import Encoding
from adrs_spec.backends.z3.solve import solve
from adrs_spec.backends.z3.values import OneHot, real_term


@dataclass(frozen=True)
class Symmetry:
    """`members` of `tensor` are interchangeable: positions (flat element indices, in runs
    of `block`, runs swappable as wholes when `blocks` > 1) or values."""

    kind: str                         # positions or values
    tensor: str
    members: tuple[int, ...]
    block: int = 0                    # positions: the length of one run
    blocks: int = 1                   # positions: how many equal runs swap as wholes

    def describe(self) -> str:
        if self.kind == "values":
            return f"values {self.members[0]} .. {self.members[-1]} of `{self.tensor}` are interchangeable"
        runs = f"{self.blocks} runs of {self.block}" if self.blocks > 1 else f"one run of {self.block}"
        return f"positions of `{self.tensor}` ({runs}) are interchangeable"


class Finder:
    """Proves swaps harmless under `formulas` (a list of Z3 Bool terms) and the `goal` value."""

    def __init__(self, enc: Encoding, formulas: Sequence, goal, deadline: float, per_query_s: float = 5.0):
        self.enc = enc
        self.flat = _conjuncts(formulas)
        self.ids = {c.get_id() for c in self.flat}
        self.goal_terms = [t for t in (_real(goal.val), goal.nan, goal.pinf, goal.ninf) if not isinstance(t, bool)]
        self.deadline = deadline
        self.per_query_s = per_query_s
        self.solver = z3.Solver()
        self.solver.add(*self.flat)

    def harmless(self, substitution: list[tuple]) -> bool:
        """No valid output changes validity or value under the swap (proven; False if not proven)."""
        left = min(self.per_query_s, self.deadline - time.perf_counter())
        if left <= 0:
            return False
        moved = [z3.substitute(c, *substitution) for c in self.flat]
        changed = [c for c in moved if c.get_id() not in self.ids]
        differs = [z3.Not(z3.And(*changed))] if changed else []
        for t in self.goal_terms:
            u = z3.substitute(t, *substitution)
            if not u.eq(t):
                differs.append(t != u)
        if not differs:
            return True
        self.solver.push()
        try:
            self.solver.add(z3.Or(*differs))
            return solve(self.solver, [], left).status == "unsat"
        finally:
            self.solver.pop()


def find(enc: Encoding, tensors: Sequence[str], formulas: Sequence, goal, deadline: float) -> list[Symmetry]:
    """The symmetries of the int outputs `tensors`: positions; values where no tensor has
    symmetric positions (renamings are looked for last: each costs a query per value)."""
    finder = Finder(enc, formulas, goal, deadline)
    ints = [name for name in tensors if enc.elements(name).size > 1
            and all(isinstance(x, OneHot) for x in enc.elements(name).flat)]
    found = [s for name in ints for s in _positions(finder, name, enc.elements(name))]
    if found:
        return found
    return [s for name in ints for s in _values(finder, name, enc.elements(name))]


def _positions(finder: Finder, name: str, elements) -> list[Symmetry]:
    if sum(n > 1 for n in elements.shape) != 1:
        return []
    flags = [dict(x.pairs) for x in elements.flat]
    n = len(flags)

    def swap(pairs) -> list[tuple]:
        sub = []
        for a, b in pairs:
            for v in flags[a]:             # every element of one output has the same domain
                sub += [(flags[a][v], flags[b][v]), (flags[b][v], flags[a][v])]
        return sub

    runs, start = [], 0
    for i in range(n - 1):
        if not finder.harmless(swap([(i, i + 1)])):
            runs.append((start, i + 1))
            start = i + 1
    runs.append((start, n))
    out = []
    i = 0
    while i < len(runs):
        lo, hi = runs[i]
        size, j = hi - lo, i
        while (j + 1 < len(runs) and runs[j + 1][1] - runs[j + 1][0] == size
               and finder.harmless(swap([(runs[j][0] + k, runs[j + 1][0] + k) for k in range(size)]))):
            j += 1
        if size > 1 or j > i:
            out.append(Symmetry("positions", name, tuple(range(lo, runs[j][1])), size, j - i + 1))
        i = j + 1
    return out


def _values(finder: Finder, name: str, elements) -> list[Symmetry]:
    flags = [dict(x.pairs) for x in elements.flat]
    domain = sorted(flags[0])               # every element of one output has the same domain

    def swap(v: int, w: int) -> list[tuple]:
        return [pair for f in flags for pair in ((f[v], f[w]), (f[w], f[v]))]

    out, run = [], [domain[0]] if domain else []
    for v, w in zip(domain, domain[1:]):
        if w == v + 1 and finder.harmless(swap(v, w)):
            run.append(w)
            continue
        if len(run) > 1:
            out.append(Symmetry("values", name, tuple(run)))
        run = [w]
    if len(run) > 1:
        out.append(Symmetry("values", name, tuple(run)))
    return out


def breaking(enc: Encoding, symmetries: Sequence[Symmetry]) -> list:
    """Constraints that keep one output of each orbit (see the module docstring)."""
    out = []
    for s in symmetries:
        elements = list(enc.elements(s.tensor).flat)
        if s.kind == "positions":
            for r in range(s.blocks):
                run = s.members[r * s.block:(r + 1) * s.block]
                out += [enc.m.le(elements[a], elements[b]) for a, b in zip(run, run[1:])]
            firsts = [s.members[r * s.block] for r in range(s.blocks)]
            out += [enc.m.le(elements[a], elements[b]) for a, b in zip(firsts, firsts[1:])]
        else:
            flags = [dict(x.pairs) for x in elements]
            for v, prev in zip(s.members[1:], s.members):
                for i, f in enumerate(flags):
                    earlier = [g[prev] for g in flags[:i]]
                    out.append(z3.Implies(f[v], z3.Or(*earlier)) if earlier else z3.Not(f[v]))
    return [z3.BoolVal(c) if isinstance(c, bool) else c for c in out]


def _conjuncts(formulas: Sequence) -> list:
    out = []
    for c in formulas:
        if isinstance(c, bool):
            c = z3.BoolVal(c)
        out += list(c.children()) if z3.is_and(c) else [c]
    return out


def _real(x):
    return x if isinstance(x, bool) else real_term(x)
