"""The built-in mutator: each kind of mutation with its exact outcomes, EVOLVE-BLOCKs kept,
children that parse and are new, the same child for the same random state."""
from __future__ import annotations

import ast
import random
from pathlib import Path

import numpy as np
import pytest

from adrs_spec.runtime import mutator as mutator_module
from adrs_spec.runtime.edits import EVOLVE_END, EVOLVE_START, EditError, apply_tree, code_hash, evolve_blocks
from adrs_spec.runtime.mutator import (DEFAULT_WEIGHTS, SITES, Mutation, Mutator, Program, adapted_weights,
                                       kinds_of, sort_keys)

ROOT = Path(__file__).resolve().parents[2]


def outcomes(code: str, kind: str, others: tuple[str, ...] = (), seeds: int = 60) -> set[str]:
    """Every child one mutation of `kind` makes of `code`, over many random states."""
    children = set()
    for seed in range(seeds):
        program = Program(code)
        mates = [ast.parse(o) for o in others]
        sites = SITES[kind](program, mates)
        rng = random.Random(seed)
        if sites and rng.choice(sites)(rng) is not None:
            children.add(apply_tree(code, program.tree))
    return children


def last_lines(children: set[str], n: int = 1) -> set[str]:
    return {"\n".join(c.strip().splitlines()[-n:]).strip() for c in children}


def only(kind: str) -> Mutator:
    return Mutator(weights={k: (1.0 if k == kind else 0.0) for k in DEFAULT_WEIGHTS})


# ---- the kinds, one by one ----

def test_constants_move_by_one_or_double_or_halve():
    assert last_lines(outcomes("x = 4\n", "constant")) == {"x = 5", "x = 3", "x = 8", "x = 2"}
    assert last_lines(outcomes("y = 0.5\n", "constant")) == {"y = 0.25", "y = 0.45", "y = 0.55", "y = 1.0"}
    assert last_lines(outcomes("z = -2\n", "constant")) == {"z = -1", "z = -3", "z = -4"}


def test_indices_slices_and_unit_offsets_are_not_tuned():
    assert last_lines(outcomes("x = a[1:-1] + b[2] + c[i + 1] + (n - 1) * 3\n", "constant")) == {
        f"x = a[1:-1] + b[2] + c[i + 1] + (n - 1) * {k}" for k in (2, 4, 6, 1)}


def test_operators_and_comparisons_swap():
    assert last_lines(outcomes("z = a * b\n", "operator")) == {"z = a / b", "z = a // b"}
    assert last_lines(outcomes("z = a < b\n", "compare")) == {"z = a <= b", "z = a > b"}
    assert last_lines(outcomes("z += 1\n", "operator")) == {"z -= 1"}


def test_simplify_keeps_a_part():
    assert last_lines(outcomes("z = a + (b if c else -d)\n", "simplify")) == {
        "z = a", "z = b if c else -d", "z = a + b", "z = a + -d", "z = a + (b if c else d)"}


def test_copies_and_conversions_are_dropped():
    assert last_lines(outcomes("import numpy as np\nz = np.asarray(x.astype(int)).copy()\n", "drop_copy")) == {
        "z = np.asarray(x.astype(int))", "z = x.astype(int).copy()", "z = np.asarray(x).copy()"}


EPLB_LIKE = '''import numpy as np


def policy(load: np.ndarray, slots: int):
    rows, cols = np.shape(load)
    counts = 1 + (np.arange(cols) < slots - cols)
    return counts
'''


def test_an_index_order_becomes_a_sort_of_a_reduction_of_a_matching_axis():
    program = Program(EPLB_LIKE)
    call = next(n for n in program.nodes if isinstance(n, ast.Call) and ast.unparse(n) == "np.arange(cols)")
    assert sort_keys(program, call, ("load", 1)) == ["load.sum(axis=0)", "load.max(axis=0)"]
    children = last_lines(outcomes(EPLB_LIKE, "index_order"), 3)
    assert {c.splitlines()[1].strip() for c in children} == {
        f"counts = 1 + ({order} < slots - cols)"
        for key in ("load.sum(axis=0)", "load.max(axis=0)", "-load.sum(axis=0)", "-load.max(axis=0)")
        for order in (f"np.argsort({key})", f"np.argsort(np.argsort({key}))")}


PLACEMENT_LIKE = '''import numpy as np


def place(size: np.ndarray, rate: np.ndarray, gpus: int) -> np.ndarray:
    return np.arange(len(size)) % gpus
'''


def test_an_index_order_over_a_vector_sorts_by_the_vectors_in_scope():
    program = Program(PLACEMENT_LIKE)
    call = next(n for n in program.nodes if isinstance(n, ast.Call) and ast.unparse(n) == "np.arange(len(size))")
    assert sort_keys(program, call, ("size", 0)) == ["size", "rate", "size / rate", "rate / size", "size * rate"]
    children = last_lines(outcomes(PLACEMENT_LIKE, "index_order", seeds=200))
    assert len(children) == 20
    assert "return np.argsort(np.argsort(-(size / rate))) % gpus" in children
    assert "return np.argsort(rate) % gpus" in children


def test_range_loops_get_a_python_list_and_dtypes_are_kept():
    code = "import numpy as np\n\n\ndef f(x: np.ndarray):\n    n = len(x)\n    for i in range(n):\n        pass\n" \
           "    return np.arange(n, dtype=np.int32)\n"
    children = outcomes(code, "index_order")
    assert any("for i in np.argsort(-x).tolist():" in c for c in children)
    assert any("return np.argsort(np.argsort(x)).astype(np.int32)" in c for c in children)


def test_sorts_turn_around_rank_and_take_other_keys():
    code = "import numpy as np\n\n\ndef f(a: np.ndarray, b: np.ndarray):\n    return np.argsort(a)\n"
    assert last_lines(outcomes(code, "sort_order", seeds=120)) == {
        "return np.argsort(-a)", "return np.argsort(np.argsort(a))",
        "return np.argsort(b)", "return np.argsort(-b)", "return np.argsort(a / b)", "return np.argsort(-(a / b))",
        "return np.argsort(b / a)", "return np.argsort(-(b / a))", "return np.argsort(a * b)",
        "return np.argsort(-(a * b))"}
    assert last_lines(outcomes("xs = sorted(ys)\n", "sort_order")) == {"xs = sorted(ys, reverse=True)"}
    assert last_lines(outcomes("import numpy as np\nxs = np.sort(ys)\n", "sort_order")) == {"xs = np.sort(ys)[::-1]"}


def test_reductions_swap_within_their_family_and_axes_change():
    assert last_lines(outcomes("m = x.sum(axis=0)\n", "reduction")) == {
        "m = x.mean(axis=0)", "m = x.max(axis=0)", "m = x.min(axis=0)", "m = x.sum(axis=1)", "m = x.sum(axis=-1)"}
    assert last_lines(outcomes("import numpy as np\ni = np.argmax(v)\n", "reduction")) == {"i = np.argmin(v)"}


def test_round_robin_dealing_becomes_serpentine():
    (child,) = outcomes(PLACEMENT_LIKE, "serpentine")
    assert child.splitlines()[-1] == (
        "    return (2 * gpus - 1 - np.abs(2 * (np.arange(len(size)) % (2 * gpus)) - 2 * gpus + 1)) // 2")
    namespace: dict = {}
    exec(child, namespace)
    dealt = namespace["place"](np.zeros(12), np.zeros(12), 3)
    assert dealt.tolist() == [0, 1, 2, 2, 1, 0, 0, 1, 2, 2, 1, 0]


def test_statements_are_deleted_repeated_and_swapped():
    code = "def f(x):\n    y = x\n    y += 1\n    return y\n"
    assert outcomes(code, "statement") == {
        "def f(x):\n    y += 1\n    return y\n",
        "def f(x):\n    y = x\n    return y\n",
        "def f(x):\n    y = x\n    y += 1\n    y += 1\n    return y\n",
        "def f(x):\n    y += 1\n    y = x\n    return y\n"}


def test_names_are_exchanged_only_with_names_of_the_same_kind_bound_before():
    code = "def f(a: int, b: int, v: list):\n    c = a + 1\n    return c\n"
    assert last_lines(outcomes(code, "name"), 2) == {
        "c = b + 1\n    return c", "c = a + 1\n    return a", "c = a + 1\n    return b"}


def test_crossover_takes_runs_of_statements_or_whole_functions_from_another_program():
    mine = "def f(x):\n    y = x + 1\n    z = y * 2\n    return z\n\n\ndef g():\n    return 1\n"
    theirs = "def f(x):\n    y = x - 1\n    z = y * 2\n    return -z\n\n\ndef g():\n    return 2\n"
    assert outcomes(mine, "crossover", (theirs,)) == {
        mine.replace("x + 1", "x - 1"), mine.replace("return z", "return -z"),
        mine.replace("x + 1", "x - 1").replace("return z", "return -z"), mine.replace("return 1", "return 2"),
        theirs}


# ---- the mutator as a whole ----

BLOCKED = f'''"""A policy with an evolvable middle."""
import numpy as np

LIMIT = 10   # not evolvable


def policy(load: np.ndarray, slots: int) -> np.ndarray:
    # keep this comment
    rows, cols = np.shape(load)
    {EVOLVE_START}
    order = np.arange(cols)  # the order to deal in
    share = load.sum(axis=0) / max(slots, 1)
    picked = order[share > 0.5]
    {EVOLVE_END}
    return np.clip(picked, 0, LIMIT)
'''


def outside_lines(code: str) -> list[str]:
    lines = code.splitlines()
    (block,) = evolve_blocks(code)
    return lines[:block.start] + lines[block.end:]


def test_children_parse_are_new_and_change_only_the_block():
    mutator, parent_hash = Mutator(), code_hash(BLOCKED)
    for seed in range(40):
        child = mutator.mutate(BLOCKED, [], random.Random(seed))
        ast.parse(child.code)
        assert code_hash(child.code) != parent_hash
        assert outside_lines(child.code) == outside_lines(BLOCKED)
        assert child.description


def test_the_same_random_state_gives_the_same_child_byte_for_byte():
    others = [BLOCKED.replace("0.5", "0.25")]
    first = [Mutator().mutate(BLOCKED, others, random.Random(s)) for s in range(10)]
    again = [Mutator().mutate(BLOCKED, others, random.Random(s)) for s in range(10)]
    assert first == again
    assert len({m.code for m in first}) > 5


def test_comments_of_untouched_statements_stay():
    child = only("constant").mutate(BLOCKED, [], random.Random(1))
    assert child == Mutation(BLOCKED.replace("max(slots, 1)", "max(slots, 0)"),
                             "constant: constant `1` -> `0` at line 12")


def test_a_block_with_nothing_to_change_is_an_edit_error():
    code = f"x = 1\n{EVOLVE_START}\n# to do\n{EVOLVE_END}\n"
    with pytest.raises(EditError) as info:
        Mutator(max_tries=5).mutate(code, [], random.Random(0))
    assert info.value.reason == "no mutation of the EVOLVE-BLOCK code gave a new program in 5 tries"


def test_a_parent_that_does_not_parse_is_an_edit_error():
    with pytest.raises(EditError) as info:
        Mutator().mutate("def f(:\n", [], random.Random(0))
    assert info.value.reason == "the program to mutate does not parse: invalid syntax at line 1"


def test_adapted_weights_lean_toward_the_kinds_that_paid_off():
    assert kinds_of("sort_order: sort key `a` -> `b` at line 3; constant: constant `1` -> `2` at line 4") == [
        "sort_order", "constant"]
    history = [("sort_order: a", True), ("sort_order: b", False), ("constant: c", False),
               ("constant: c; name: d", False)]
    base = {"sort_order": 1.0, "constant": 1.0, "name": 0.5, "crossover": 0.1}
    # run rate 2/7; sort_order (1 + 4 * 2/7) / 6 = 1.25 times it; crossover never tried keeps its weight
    assert adapted_weights(history, base) == pytest.approx(
        {"sort_order": 1.25, "constant": 2 / 3, "name": 0.4, "crossover": 0.1})
    assert adapted_weights([], base) == pytest.approx(base)
    clipped = adapted_weights([("name: x", True)] * 50 + [("constant: y", False)] * 1000, base)
    assert (clipped["name"], clipped["constant"]) == (0.5 * 4.0, 1.0 * 0.25)


def test_unknown_weights_are_refused():
    with pytest.raises(ValueError, match="unknown mutation kind"):
        Mutator(weights={"constants": 1.0})


def test_the_shipped_round_robin_baselines_get_load_aware_orders():
    """Among the first children of the load-blind baselines are sorts by load that make
    them load-aware; every child is new."""
    for path, loads in (("specs/eplb/policies/round_robin.py", ("weight.",)),
                        ("specs/placement/policies/round_robin.py", ("req_rate", "slo"))):
        parent = (ROOT / path).read_text()
        rng, mutator = random.Random(0), Mutator()
        children = [mutator.mutate(parent, [], rng).code for _ in range(60)]
        assert all(code_hash(c) != code_hash(parent) for c in children)
        sorted_by_load = [c for c in children if any(f"np.argsort(np.argsort(-{load}" in c for load in loads)]
        assert sorted_by_load, path


def test_the_mutator_names_no_spec():
    source = Path(mutator_module.__file__).read_text().lower()
    for spec in sorted((ROOT / "specs").glob("*.adrs")):
        assert spec.stem not in source
    for word in ("expert", "replica", "gpu", "kvpr", "rebalance"):
        assert word not in source
