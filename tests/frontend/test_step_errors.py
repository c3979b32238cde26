"""Golden tests: the exact text of the errors of step blocks and recurrence lets."""
import pytest

from adrs_spec.errors import Source, SpecError
from adrs_spec.compile import check
from adrs_spec.frontend.parser import parse

BASE = ('spec seq "A sequence"\nparam n: int = 4 in 1 .. 10\ninstance {\n  observe size: int[n] >= 0\n}\n'
        'policy order_of(size) -> order: int[n]\ninvariant in_range: forall i: 0 <= order[i] < n\n')

CASES = [
    ("later_step", "let done[i in 0 .. n] = done[i + 1] + size[order[i]] initially 0\n",
     "seq.adrs:8:30: error: `done` may read step `i + 1` here, which is not before `i`: a recurrence reads only "
     "earlier steps\n  let done[i in 0 .. n] = done[i + 1] + size[order[i]] initially 0\n"
     "                               ^^^^^\n  note: read `done[i - 1, ...]`, or `done[k, ...]` with `k in 0 .. i`"),
    ("same_step", "let done[i in 0 .. n] = max(k in 0 .. i + 1: done[k]) + 1 initially 0\n",
     "seq.adrs:8:51: error: `done` may read step `k` here, which is not before `i`: a recurrence reads only "
     "earlier steps\n  let done[i in 0 .. n] = max(k in 0 .. i + 1: done[k]) + 1 initially 0\n"
     "                                                    ^\n"
     "  note: read `done[i - 1, ...]`, or `done[k, ...]` with `k in 0 .. i`"),
    ("data_step", "let done[i in 0 .. n] = done[order[i]] + 1 initially 0\n",
     "seq.adrs:8:30: error: `done` may read step `order[i]` here, which is not before `i`: a recurrence reads only "
     "earlier steps\n  let done[i in 0 .. n] = done[order[i]] + 1 initially 0\n"
     "                               ^^^^^^^^\n  note: read `done[i - 1, ...]`, or `done[k, ...]` with `k in 0 .. i`"),
    ("no_initially", "let done[i in 0 .. n] = done[i - 1] + size[order[i]]\n",
     "seq.adrs:8:5: error: `done` is defined in terms of itself: done -> done\n"
     "  let done[i in 0 .. n] = done[i - 1] + size[order[i]]\n      ^^^^\n"
     "  note: to carry a value along an ordered index, read earlier steps and give the value before the first: "
     "`let done[i in 0 .. n] = ... done[i - 1] ... initially 0`"),
    ("no_binder", "let done = done + 1 initially 0\n",
     "seq.adrs:8:5: error: a recurrence runs along an index: declare one, e.g. `let done[i in 0 .. n] = ...`\n"
     "  let done = done + 1 initially 0\n      ^^^^"),
    ("not_state", "step i in 0 .. n {\n  state busy: int[n] = 0\n  let t = order[i]\n  size[t] max= 1\n}\n",
     "seq.adrs:11:3: error: `size` is not a state table of this step; an update changes one (this block's are "
     "`busy`)\n    size[t] max= 1\n    ^^^^\n  note: declare it in the block: `state name: int[n] = 0`"),
    ("set_dupes", "step i in 0 .. n {\n  state busy: int[n] = 0\n  busy[order[j]] = i for j in 0 .. n\n}\n",
     "seq.adrs:10:26: error: `=` for several points must write distinct elements: index the table with `j` itself\n"
     "    busy[order[j]] = i for j in 0 .. n\n                           ^^^^^^^^^^^\n"
     "  note: combine the values of several points with `max=`, `min=` or `+=`"),
    ("step_from_1", "step i in 1 .. n {\n  state busy: int[n] = 0\n  busy[order[i]] max= i\n}\n",
     "seq.adrs:8:11: error: the step index `i` must start at 0\n  step i in 1 .. n {\n            ^\n"
     "  note: write `i in 0 .. n` and shift inside the block"),
    ("float_into_int", "step i in 0 .. n {\n  state busy: int[n] = 0\n  busy[order[i]] max= 0.5\n}\n",
     "seq.adrs:10:23: error: the value is a float, but the table holds ints\n    busy[order[i]] max= 0.5\n"
     "                        ^^^\n  note: convert it with `int(...)` or `float(...)`"),
    ("wrong_rank", "step i in 0 .. n {\n  state busy: int[n] = 0\n  busy[order[i], 0] max= 1\n}\n",
     "seq.adrs:10:3: error: `busy` has 1 dimension(s) but is updated with 2 index(es)\n"
     "    busy[order[i], 0] max= 1\n    ^^^^^^^^^^^^^^^^^^^^^^^^"),
    ("initially_in_step", "step i in 0 .. n {\n  state busy: int[n] = 0\n  let x[k in 0 .. n] = 1 initially 0\n}\n",
     "seq.adrs:10:36: error: a let inside a `step` block is computed at every step; `initially` belongs to a "
     "recurrence let outside a block\n    let x[k in 0 .. n] = 1 initially 0\n                                     ^\n"
     "  note: keep values across steps in a `state` table"),
    ("empty_step", "step i in 0 .. n {\n}\n",
     "seq.adrs:8:1: error: this `step` block declares nothing\n  step i in 0 .. n {\n  ^^^^^^^^^^^^^^^^^^\n"
     "  note: declare `state` tables and `let`s computed at each step"),
    ("dup_name", "step i in 0 .. n {\n  state order: int[n] = 0\n}\n",
     "seq.adrs:9:9: error: `order` is declared twice\n    state order: int[n] = 0\n          ^^^^^\n"
     "  note: the first declaration is at line 6"),
    ("bad_op", "step i in 0 .. n {\n  state busy: int[n] = 0\n  busy[order[i]] *= 2\n}\n",
     "seq.adrs:10:18: error: expected `=` or `max=`, `min=` or `+=`, found `*`\n    busy[order[i]] *= 2\n"
     "                   ^"),
]


@pytest.mark.parametrize("name,extra,expected", CASES, ids=[c[0] for c in CASES])
def test_error_text(name, extra, expected):
    text = BASE + extra
    with pytest.raises(SpecError) as info:
        check(parse(Source("seq.adrs", text)), Source("seq.adrs", text))
    assert info.value.render() == expected


def test_base_with_a_valid_step_checks():
    text = BASE + "step i in 0 .. n {\n  state busy: int[n] = 0\n  busy[order[i]] max= i\n}\nmetric m = busy[0]\n"
    check(parse(Source("seq.adrs", text)), Source("seq.adrs", text))
