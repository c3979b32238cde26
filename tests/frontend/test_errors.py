"""Golden tests: the exact text of every kind of spec error (message, source line, marker, notes)."""
import pytest

from adrs_spec.errors import Source, SpecError
from adrs_spec.compile import check
from adrs_spec.frontend.parser import parse

BASE = 'spec toy "A toy"\nparam n: int = 4 in 1 .. 10\nparam k: int = 2\nrequire n % k == 0\nlet half = n // k\ninstance {\n  observe load: float[n] >= 0\n  hidden  future: float[n] >= 0\n}\npolicy assign(load, k) -> slot: int[n], share: float[n]\ninvariant in_range: forall i: 0 <= slot[i] < k\nlet bin_load[b in 0 .. k] = sum(i where slot[i] == b: future[i])\nmetric balance = mean(b: bin_load[b]) / max(b: bin_load[b])\nobjective maximize balance\nscore 100 * balance\n'

WORKLOAD = "workload w {\n  cases 2\n  trace load: float[n] = uniform(low = 0.0, high = 1.0)\n  trace future: float[n] = uniform(low = 0.0, high = 1.0)\n}\n"


def sub(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


CASES = [
    ('empty', "",
     'toy.adrs:1:1: error: the spec is empty\n  \n  ^\n  note: a spec starts with `spec NAME "title"`; see specs/eplb.adrs'),
    ('missing_spec', BASE.split("\n",1)[1],
     'toy.adrs:1:1: error: a spec must start with `spec NAME "title"`\n  param n: int = 4 in 1 .. 10\n  ^^^^^^^^^^^^^^^^^^^^^^^^^^^'),
    ('typo_name', sub("max(b: bin_load[b])", "max(b: bin_lod[b])"),
     'toy.adrs:13:48: error: unknown name `bin_lod`\n  metric balance = mean(b: bin_load[b]) / max(b: bin_lod[b])\n                                                 ^^^^^^^\n  note: did you mean `bin_load`?'),
    ('unknown_fn', sub("100 * balance", "100 * sqr(balance)"),
     'toy.adrs:15:13: error: unknown function `sqr`\n  score 100 * sqr(balance)\n              ^^^\n  note: did you mean `sqrt`?'),
    ('int_division', sub("n // k", "n / k"),
     'toy.adrs:5:14: error: `/` divides floats, but both sides are ints\n  let half = n / k\n               ^\n  note: use `//` for floor division, or `float(a) / b` for a float result'),
    ('unbound_index', sub("0 <= slot[i] < k", "0 <= slot[j] < k"),
     'toy.adrs:11:41: error: unknown name `j`\n  invariant in_range: forall i: 0 <= slot[j] < k\n                                          ^'),
    ('wrong_arity_index', sub("0 <= slot[i] < k", "0 <= slot[i, i] < k"),
     'toy.adrs:11:36: error: `slot` has 1 dimension(s) but is indexed with 2\n  invariant in_range: forall i: 0 <= slot[i, i] < k\n                                     ^^^^^^^^^^\n  note: `slot` is declared at line 10'),
    ('cyclic_let', BASE + "let a[i] = b[i] + 1\nlet b[i] = a[i] * 2\n",
     'toy.adrs:17:5: error: `b` is defined in terms of itself: b -> a -> b\n  let b[i] = a[i] * 2\n      ^\n  note: break the cycle; lets cannot be recursive'),
    ('require_broken', sub("param k: int = 2", "param k: int = 3"),
     "toy.adrs:4:9: error: the defaults break this requirement (k = 3, n = 4)\n  require n % k == 0\n          ^^^^^^^^^^\n  note: change a param's default so that the requirement holds"),
    ('default_out_of_range', sub("param n: int = 4 in 1 .. 10", "param n: int = 12 in 1 .. 10"),
     'toy.adrs:2:16: error: the default 12 of `n` is outside its range 1 .. 10\n  param n: int = 12 in 1 .. 10\n                 ^^\n  note: ranges are half-open: the upper end is excluded'),
    ('empty_range', sub("param n: int = 4 in 1 .. 10", "param n: int = 4 in 10 .. 1"),
     'toy.adrs:2:21: error: the range 10 .. 1 of `n` is empty\n  param n: int = 4 in 10 .. 1\n                      ^^^^^^^\n  note: ranges are half-open: `a .. b` holds a, a+1, ..., b-1'),
    ('duplicate', BASE + "param n: int = 3\n",
     'toy.adrs:16:7: error: `n` is declared twice\n  param n: int = 3\n        ^\n  note: the first declaration is at line 2'),
    ('hidden_in_policy', sub("policy assign(load, k)", "policy assign(load, future, k)"),
     'toy.adrs:10:21: error: the policy may not see `future`: it is `hidden` (kept for scoring)\n  policy assign(load, future, k) -> slot: int[n], share: float[n]\n                      ^^^^^^\n  note: declare it `observe` if the policy should see it'),
    ('unknown_policy_arg', sub("policy assign(load, k)", "policy assign(lod, k)"),
     'toy.adrs:10:15: error: unknown policy argument `lod`\n  policy assign(lod, k) -> slot: int[n], share: float[n]\n                ^^^\n  note: did you mean `load`?'),
    ('bool_arith', sub("100 * balance", "100 * (balance > 1)"),
     'toy.adrs:15:14: error: `*` needs numbers, but this is a bool\n  score 100 * (balance > 1)\n               ^^^^^^^^^^^\n  note: use `if c then 1 else 0` to count a condition'),
    ('float_index', sub("0 <= slot[i] < k", "0 <= slot[i] < load[0.5]"),
     'toy.adrs:11:51: error: an index must be an int, but this is float\n  invariant in_range: forall i: 0 <= slot[i] < load[0.5]\n                                                    ^^^\n  note: use `int(x)` to truncate a float'),
    ('index_float_var', BASE + "invariant bad: forall i: share[slot[i] * 1.5] >= 0\n",
     'toy.adrs:16:32: error: an index must be an int, but this is float\n  invariant bad: forall i: share[slot[i] * 1.5] >= 0\n                                 ^^^^^^^^^^^^^\n  note: use `int(x)` to truncate a float'),
    ('cannot_infer', sub("let bin_load[b in 0 .. k]", "let bin_load[b]"),
     'toy.adrs:12:14: error: cannot infer the range of index `b`: it never indexes a tensor directly\n  let bin_load[b] = sum(i where slot[i] == b: future[i])\n               ^\n  note: give it a range, e.g. `b in 0 .. n`'),
    ('metric_bool', sub("metric balance = mean(b: bin_load[b]) / max(b: bin_load[b])", "metric balance = max(b: bin_load[b]) > 1"),
     'toy.adrs:13:18: error: a metric must be a number, but this is a bool\n  metric balance = max(b: bin_load[b]) > 1\n                   ^^^^^^^^^^^^^^^^^^^^^^^\n  note: use `if c then 1 else 0`, or make it an invariant'),
    ('invariant_not_bool', BASE + "invariant sum_share: forall i: share[i] + 1\n",
     'toy.adrs:16:32: error: an invariant must be a condition, but this is float\n  invariant sum_share: forall i: share[i] + 1\n                                 ^^^^^^^^^^^^\n  note: compare it, e.g. `x[i] >= 0`'),
    ('scalar_indexed', sub("0 <= slot[i] < k", "0 <= slot[i] < k[i]"),
     'toy.adrs:11:46: error: `k` is a scalar and cannot be indexed\n  invariant in_range: forall i: 0 <= slot[i] < k[i]\n                                               ^'),
    ('tensor_unindexed', sub("0 <= slot[i] < k", "0 <= slot < k"),
     'toy.adrs:11:36: error: `slot` is a tensor with 1 dimension(s); index it, e.g. `slot[_]`\n  invariant in_range: forall i: 0 <= slot < k\n                                     ^^^^'),
    ('runtime_in_metric', sub("metric balance = mean(b: bin_load[b]) / max(b: bin_load[b])", "metric balance = runtime"),
     'toy.adrs:13:18: error: unknown name `runtime`\n  metric balance = runtime\n                   ^^^^^^^\n  note: `runtime` is measured per policy run; use it in `objective`, `bound` or `score`'),
    ('reducer_as_call', sub("100 * balance", "100 * sum(balance)"),
     'toy.adrs:15:13: error: `sum` is a reduction: write `sum(i: body)` or `sum(i in a .. b: body)`\n  score 100 * sum(balance)\n              ^^^^^^^^^^^^'),
    ('approx_ints', BASE + "invariant s: forall i: slot[i] ~= 1\n",
     'toy.adrs:16:32: error: `~=` is approximate equality for floats; use `==` for ints\n  invariant s: forall i: slot[i] ~= 1\n                                 ^^'),
    ('if_types', BASE + "let z[i] = if load[i] > 0 then 1 else false\n",
     'toy.adrs:16:12: error: the branches of `if` have different types: int and bool\n  let z[i] = if load[i] > 0 then 1 else false\n             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'),
    ('two_policies', BASE + "policy other(load) -> x: int[n]\n",
     'toy.adrs:16:1: error: a second `policy`; a spec has at most one\n  policy other(load) -> x: int[n]\n  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n  note: the first is at line 10'),
    ('no_policy', "spec toy\nparam n: int = 3\n",
     'toy.adrs:1:1: error: the spec declares no `policy`\n  spec toy\n  ^\n  note: declare the function a policy implements: `policy name(args) -> out: int[n]`'),
    ('unknown_aggregate', sub("max(b: bin_load[b])\n", "max(b: bin_load[b]) aggregate median\n"),
     'toy.adrs:13:71: error: unknown aggregate `median`\n  metric balance = mean(b: bin_load[b]) / max(b: bin_load[b]) aggregate median\n                                                                        ^^^^^^\n  note: aggregates are mean, min, max, sum'),
    ('shadowed_index', BASE + "invariant s: forall i: sum(i: load[i]) >= 0\n",
     'toy.adrs:16:28: error: index `i` is already bound by an enclosing expression\n  invariant s: forall i: sum(i: load[i]) >= 0\n                             ^\n  note: use another name for the inner index'),
    ('unexpected_char', sub("100 * balance", "100 * balance $"),
     'toy.adrs:15:21: error: unexpected character `$`\n  score 100 * balance $\n                      ^'),
    ('missing_colon', sub("invariant in_range: forall", "invariant in_range forall"),
     'toy.adrs:11:20: error: expected `:`, found `forall`\n  invariant in_range forall i: 0 <= slot[i] < k\n                     ^^^^^^'),
    ('assign_vs_compare', sub("metric balance =", "metric balance =="),
     'toy.adrs:13:17: error: expected an expression, found `=`\n  metric balance == mean(b: bin_load[b]) / max(b: bin_load[b])\n                  ^\n  note: use `=` to define a name, `==` to compare'),
    ('unclosed_bracket', sub("max(b: bin_load[b])", "max(b: bin_load[b)"),
     'toy.adrs:13:58: error: expected `,` or `]`, found `)`\n  metric balance = mean(b: bin_load[b]) / max(b: bin_load[b)\n                                                           ^'),
    ('string_in_expr', sub("100 * balance", '100 * "balance"'),
     'toy.adrs:15:13: error: expected an expression, found `"balance"`\n  score 100 * "balance"\n              ^^^^^^^^^'),
    ('unknown_decl', BASE + "constraint x > 0\n",
     'toy.adrs:16:1: error: expected a new declaration, found `constraint`\n  constraint x > 0\n  ^^^^^^^^^^'),
    ('let_index_nonzero', BASE + "let z[i in 1 .. n] = load[i]\n",
     'toy.adrs:16:7: error: the index `i` of a tensor let must start at 0\n  let z[i in 1 .. n] = load[i]\n        ^^^^^^^^^^^\n  note: write `i in 0 .. n`'),
    ('invariant_no_output', BASE + "invariant loads: forall i: load[i] >= 0\n",
     "toy.adrs:16:11: error: invariant `loads` does not involve the policy's outputs\n  invariant loads: forall i: load[i] >= 0\n            ^^^^^\n  note: constraints on inputs and params belong in `require` or the instance block"),
    ('bool_param_range', sub("param k: int = 2", "param k: bool = true in 0 .. 2"),
     'toy.adrs:3:25: error: a bool param cannot have a range\n  param k: bool = true in 0 .. 2\n                          ^^^^^^'),
    ('param_type', sub("param k: int = 2", "param k: int = 2.5"),
     'toy.adrs:3:16: error: the default of `k` must be an int, but this is float\n  param k: int = 2.5\n                 ^^^'),
    ('dim_float', sub("slot: int[n]", "slot: int[n * 1.0]"),
     'toy.adrs:10:37: error: a dimension must be an int, but this is float\n  policy assign(load, k) -> slot: int[n * 1.0], share: float[n]\n                                      ^^^^^^^'),
    ('policy_output_as_arg', sub("policy assign(load, k)", "policy assign(load, slot, k)"),
     'toy.adrs:10:21: error: `slot` is an output of the policy, not an input\n  policy assign(load, slot, k) -> slot: int[n], share: float[n]\n                      ^^^^'),
    ('floor_div_float', sub("n // k", "n // 2.0"),
     'toy.adrs:5:14: error: `//` is integer arithmetic, but an operand is a float\n  let half = n // 2.0\n               ^^\n  note: use `floor(a / b)` for floats'),
    ('not_reduction', sub("max(b: bin_load[b])", "maxx(b: bin_load[b])"),
     'toy.adrs:13:41: error: `maxx` is not a reduction; `name(i: body)` needs one of sum, mean, max, min, count, all, any, prod\n  metric balance = mean(b: bin_load[b]) / maxx(b: bin_load[b])\n                                          ^^^^'),
    ('wrong_fn_arity', sub("100 * balance", "100 * min(balance)"),
     'toy.adrs:15:13: error: `min` takes 2 argument(s), got 1\n  score 100 * min(balance)\n              ^^^^^^^^^^^^'),
    ('index_domain_mismatch', BASE + "param m: int = 6\nlet q[i in 0 .. m] = load[i]\n",
     'toy.adrs:17:27: error: index `i` ranges over 0 .. 6, but dimension 1 of `load` has size 4\n  let q[i in 0 .. m] = load[i]\n                            ^\n  note: `i` is bound at line 17, column 7'),
    ('block_range_overflow', BASE + "let over[b in 0 .. k] = sum(i in b * half .. (b + 2) * half: load[i])\n",
     'toy.adrs:16:67: error: index `i` ranges over 2 .. 6, but dimension 1 of `load` has size 4\n  let over[b in 0 .. k] = sum(i in b * half .. (b + 2) * half: load[i])\n                                                                    ^\n  note: `i` is bound at line 16, column 29'),
    ('empty_reduction_range', BASE + "let e = sum(i in 3 .. 1: load[i])\n",
     'toy.adrs:16:18: error: the range 3 .. 1 of `i` is empty at the defaults\n  let e = sum(i in 3 .. 1: load[i])\n                   ^^^^^^\n  note: ranges are half-open: `a .. b` holds a, a+1, ..., b-1'),
    ('unknown_generator', BASE + WORKLOAD.replace("uniform(low = 0.0, high = 1.0)\n  trace future", "unifrom(low = 0.0, high = 1.0)\n  trace future"),
     'toy.adrs:18:26: error: unknown generator `unifrom`\n    trace load: float[n] = unifrom(low = 0.0, high = 1.0)\n                           ^^^^^^^\n  note: did you mean `uniform`?'),
    ('unknown_generator_param', BASE + WORKLOAD.replace("(low = 0.0, high = 1.0)\n  trace future", "(lo = 0.0, high = 1.0)\n  trace future"),
     'toy.adrs:18:34: error: generator `uniform` has no parameter `lo`\n    trace load: float[n] = uniform(lo = 0.0, high = 1.0)\n                                   ^^\n  note: did you mean `low`?'),
    ('workload_missing_field', BASE + WORKLOAD.replace("  trace future: float[n] = uniform(low = 0.0, high = 1.0)\n", ""),
     'toy.adrs:16:10: error: the workload does not give instance field(s) `future`\n  workload w {\n           ^\n  note: every field of the instance block needs a value'),
    ('holdout_unknown_base', BASE + WORKLOAD + "holdout h from v with n = 6\n",
     'toy.adrs:21:16: error: unknown workload `v`\n  holdout h from v with n = 6\n                 ^\n  note: a holdout shifts a declared workload'),
    ('holdout_unknown_name', BASE + WORKLOAD + "holdout h from w with m = 6\n",
     "toy.adrs:21:23: error: holdout `h` sets `m`, which workload `w` does not have\n  holdout h from w with m = 6\n                        ^\n  note: a holdout may set params, the workload's own names, and generator parameters"),
    ('bounded_without_pad', sub("slot: int[n]", "slot: int[<= n]"),
     "toy.adrs:10:40: error: `slot` has a dimension of any width up to a bound, but no `pad` value\n  policy assign(load, k) -> slot: int[<= n], share: float[n]\n                                         ^\n  note: say what fills it past the policy's width: `slot: ... pad -1`"),
    ('pad_without_bound', sub("share: float[n]", "share: float[n] pad 0.0"),
     'toy.adrs:10:61: error: `pad` is for an output with a dimension declared `<= bound`; `share` has none\n  policy assign(load, k) -> slot: int[n], share: float[n] pad 0.0\n                                                              ^^^\n  note: write the dimension as `<= bound`, or drop the `pad`'),
    ('pad_of_wrong_dtype', sub("slot: int[n]", "slot: int[<= n] pad 1.5"),
     'toy.adrs:10:47: error: `slot` holds ints, but its pad value is a float\n  policy assign(load, k) -> slot: int[<= n] pad 1.5, share: float[n]\n                                                ^^^'),
    ('pad_not_literal', sub("slot: int[n]", "slot: int[<= n] pad k"),
     'toy.adrs:10:47: error: a pad value must be a literal (`-1`, `0.0`, `false`)\n  policy assign(load, k) -> slot: int[<= n] pad k, share: float[n]\n                                                ^'),
    ('bound_not_static', sub("slot: int[n]", "slot: int[<= load[0]] pad -1"),
     'toy.adrs:10:40: error: `load` is an instance field, but this needs a value known before any data (params and lets over them)\n  policy assign(load, k) -> slot: int[<= load[0]] pad -1, share: float[n]\n                                         ^^^^'),
    ('bounded_field', sub("observe load: float[n]", "observe load: float[<= n]"),
     'toy.adrs:7:26: error: an instance field has exact dimensions; `<= bound` is for policy outputs\n    observe load: float[<= n] >= 0\n                           ^\n  note: drop the `<=`'),
    ('bounded_strict', sub("slot: int[n]", "slot: int[< n] pad -1"),
     'toy.adrs:10:37: error: a dimension cannot start with `<`\n  policy assign(load, k) -> slot: int[< n] pad -1, share: float[n]\n                                      ^\n  note: a dimension of any width up to a bound is written `<= bound`'),
    ('set_after_equals', BASE + WORKLOAD.replace("  cases 2\n", "  cases 2\n  k = {2, 4}\n"),
     'toy.adrs:18:7: error: `k = {...}`: a set of choices is written with `in`\n    k = {2, 4}\n        ^^^^^^\n  note: write `k in {...}` (as in workloads, generator arguments and holdouts)'),
    ('set_after_equals_in_generator', BASE + WORKLOAD.replace("low = 0.0, high = 1.0)\n  trace future", "low = {0.0, 0.5}, high = 1.0)\n  trace future"),
     'toy.adrs:18:40: error: `low = {...}`: a set of choices is written with `in`\n    trace load: float[n] = uniform(low = {0.0, 0.5}, high = 1.0)\n                                         ^^^^^^^^^^\n  note: write `low in {...}` (as in workloads, generator arguments and holdouts)'),
]


def render_error(text: str) -> str:
    source = Source("toy.adrs", text)
    with pytest.raises(SpecError) as info:
        check(parse(source), source)
    return info.value.render()


def test_base_spec_is_valid():
    source = Source("toy.adrs", BASE)
    assert check(parse(source), source).spec.name == "toy"


@pytest.mark.parametrize("name, text, expected", CASES, ids=[c[0] for c in CASES])
def test_error_text(name, text, expected):
    assert render_error(text) == expected


def test_cases_are_distinct():
    messages = [expected.splitlines()[0].split(": error: ")[1] for _, _, expected in CASES]
    assert len(set(messages)) >= 25

