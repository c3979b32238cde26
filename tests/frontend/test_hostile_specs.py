"""Hostile specs: inputs that must never crash or hang the front end, each with the exact
message it gets (or proof that it is accepted). Deep nesting, long chains, huge numbers,
static arithmetic that would never finish, too many axes, odd line endings."""
import pytest

from adrs_spec.errors import Source
from adrs_spec.compile import check
from adrs_spec.frontend.parser import MAX_NESTING, parse
from adrs_spec.backends.jax.codegen import generate
from test_errors import BASE, WORKLOAD, render_error

D = 1000
DEEP_INDICES = BASE + "invariant deep: forall i: slot[" + "slot[" * D + "i" + "]" * D + "] >= 0\n"
DEEP_SUMS = BASE + "let deep = " + "".join(f"sum(i{j} in 0 .. 2: " for j in range(D)) + "1" + ")" * D + "\n"
DEEP_MINUS = BASE + "let deep = " + "-" * D + "n\n"
DEEP_POWER = BASE + "let deep = " + "2 ** " * D + "1\n"
DEEP_IF = BASE + "let deep = " + "if n > 0 then " * D + "1" + " else 0" * D + "\n"
DEEP_IMPLIES = BASE + "invariant deep: forall i: " + "slot[i] > 0 implies " * D + "true\n"
LONG_SUM = BASE + "let deep = n" + " + n" * D + "\n"
LONG_COMPARE = BASE + "invariant chain: forall i: " + " < ".join(["slot[i]"] * 102) + "\n"
MOD_ZERO = BASE + "let z = n % 0\n"
REQUIRE_MOD_ZERO = BASE.replace("require n % k == 0", "require n % (k - 2) == 0")
HUGE_POWER = BASE + "let z = 2 ** 2 ** 40\n"
INT_5000_DIGITS = BASE + "let z = " + "9" * 5000 + "\n"
FLOAT_TOO_LARGE = BASE + "let z = 1" + "0" * 400 + ".0\n"
BINDERS_70 = BASE + "let many[" + ", ".join(f"i{j} in 0 .. 1" for j in range(70)) + "] = 1.0\n"
RANK_20 = BASE.replace("hidden  future: float[n]", "hidden  future: float[" + ", ".join(["n"] * 20) + "]")
REDUCTION_LET_AS_SIZE = BASE + "let z = sum(i in 0 .. 3: i)\nlet w[j in 0 .. z] = 1.0\n"
REDUCTION_LET_IN_REQUIRE = BASE + "let z = max(i in 0 .. n: i)\nrequire k < z\n"
CASES_ZERO = BASE + WORKLOAD.replace("cases 2", "cases 0")
CASES_NEGATIVE = BASE + WORKLOAD.replace("cases 2", "cases -3")
CASES_HUGE = BASE + WORKLOAD.replace("cases 2", "cases 1000000000000")
EMPTY_GENERATOR_RANGE = BASE + WORKLOAD.replace("uniform(low = 0.0, high = 1.0)\n  trace future",
                                                "uniform(low = 1.0 .. 1.0, high = 2.0)\n  trace future")
EMPTY_ASSIGN_RANGE = BASE + WORKLOAD.replace("cases 2", "cases 2\n  n = 4 .. 4")

CASES = [
    ('deep_indices', DEEP_INDICES,
     'toy.adrs:16:517: error: this expression nests more than 100 levels deep\n'
     '  ...slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[slot[...\n'
     '                                             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
     '  note: name inner parts with `let`; each operator of a chain such as `a + b + c` counts one level'),
    ('deep_sums', DEEP_SUMS,
     'toy.adrs:16:1875: error: this expression nests more than 100 levels deep\n'
     '  ...n 0 .. 2: sum(i97 in 0 .. 2: sum(i98 in 0 .. 2: sum(i99 in 0 .. 2: sum(i100 in 0 .. 2: sum(i101 in 0 .. 2: sum(i102 in 0...\n'
     '                                             ^^^^^^\n'
     '  note: name inner parts with `let`; each operator of a chain such as `a + b + c` counts one level'),
    ('deep_minus', DEEP_MINUS,
     'toy.adrs:16:112: error: this expression nests more than 100 levels deep\n'
     '  ...------------------------------------------------------------------------------------------------------------------------...\n'
     '                                             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
     '  note: name inner parts with `let`; each operator of a chain such as `a + b + c` counts one level'),
    ('deep_power', DEEP_POWER,
     'toy.adrs:16:512: error: this expression nests more than 100 levels deep\n'
     '  ...2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** 2 ** ...\n'
     '                                             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
     '  note: name inner parts with `let`; each operator of a chain such as `a + b + c` counts one level'),
    ('deep_if', DEEP_IF,
     'toy.adrs:16:1401: error: this expression nests more than 100 levels deep\n'
     '  ...> 0 then if n > 0 then if n > 0 then if n > 0 then if n > 0 then if n > 0 then if n > 0 then if n > 0 then if n > 0 then...\n'
     '                                             ^^^^^\n'
     '  note: name inner parts with `let`; each operator of a chain such as `a + b + c` counts one level'),
    ('deep_implies', DEEP_IMPLIES,
     'toy.adrs:16:1967: error: this expression nests more than 100 levels deep\n'
     '  ...slot[i] > 0 implies slot[i] > 0 implies slot[i] > 0 implies slot[i] > 0 implies slot[i] > 0 implies slot[i] > 0 implies ...\n'
     '                                             ^^^^^^^\n'
     '  note: name inner parts with `let`; each operator of a chain such as `a + b + c` counts one level'),
    ('long_sum', LONG_SUM,
     'toy.adrs:16:12: error: this expression nests more than 100 levels deep\n'
     '  let deep = n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n + n...\n'
     '             ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
     '  note: name inner parts with `let`; each operator of a chain such as `a + b + c` counts one level'),
    ('long_compare', LONG_COMPARE,
     'toy.adrs:16:36: error: a chain of 101 comparisons; the limit is 100\n'
     '  invariant chain: forall i: slot[i] < slot[i] < slot[i] < slot[i] < slot[i] < slot[i] < slot[i] < slot[i] < slot[i] < slo...\n'
     '                                     ^\n'
     '  note: split it into several conditions joined by `and`, or several invariants'),
    ('mod_zero', MOD_ZERO,
     'toy.adrs:16:9: error: `z` divides by zero (`%` by 0) at the defaults\n'
     '  let z = n % 0\n'
     '          ^^^^^'),
    ('require_mod_zero', REQUIRE_MOD_ZERO,
     'toy.adrs:4:9: error: this requirement divides by zero (`%` by 0) at the defaults\n'
     '  require n % (k - 2) == 0\n'
     '          ^^^^^^^^^^^'),
    ('huge_power', HUGE_POWER,
     'toy.adrs:16:9: error: `z` overflows 64-bit ints (2 ** 1099511627776) at the defaults\n'
     '  let z = 2 ** 2 ** 40\n'
     '          ^^^^^^^^^^^^\n'
     '  note: ints are 64-bit: from -9223372036854775808 to 9223372036854775807'),
    ('int_5000_digits', INT_5000_DIGITS,
     'toy.adrs:16:9: error: the integer 99999999999999999999... (5000 digits) does not fit in 64 bits\n'
     '  let z = 9999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999...\n'
     '          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
     '  note: ints are 64-bit: at most 9223372036854775807; write a float (`1e30`) for a larger number'),
    ('float_too_large', FLOAT_TOO_LARGE,
     'toy.adrs:16:9: error: the number 10000000000000000000... (403 characters) is too large for a float\n'
     '  let z = 1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000...\n'
     '          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
     '  note: floats are IEEE doubles: at most about 1.8e308'),
    ('binders_70', BINDERS_70,
     'toy.adrs:16:240: error: more than 16 index variables are bound here\n'
     '  ...n 0 .. 1, i14 in 0 .. 1, i15 in 0 .. 1, i16 in 0 .. 1, i17 in 0 .. 1, i18 in 0 .. 1, i19 in 0 .. 1, i20 in 0 .. 1, i21 i...\n'
     '                                             ^^^^^^^^^^^^^\n'
     "  note: each bound index is an axis of the evaluators' arrays; at most 16 may be bound at once"),
    ('rank_20', RANK_20,
     'toy.adrs:8:19: error: a tensor of 20 dimensions; the limit is 16\n'
     '    hidden  future: float[n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n, n] >= 0\n'
     '                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
     "  note: each dimension is an axis of the evaluators' arrays"),
    ('reduction_let_as_size', REDUCTION_LET_AS_SIZE,
     'toy.adrs:17:7: error: the range of `j` reads `z`, which is computed per instance; the size of a tensor let must be known before any data\n'
     '  let w[j in 0 .. z] = 1.0\n'
     '        ^^^^^^^^^^^\n'
     '  note: a let that reduces (`sum(...)`, `max(...)`, ...) or reads a tensor is computed per instance; size a let with params and lets over them'),
    ('reduction_let_in_require', REDUCTION_LET_IN_REQUIRE,
     'toy.adrs:17:13: error: `z` is a let computed per instance, but this needs a value known before any data (params and lets over them)\n'
     '  require k < z\n'
     '              ^\n'
     '  note: a let that reduces (`sum(...)`, `max(...)`, ...) or reads a tensor is computed per instance'),
    ('cases_zero', CASES_ZERO,
     'toy.adrs:17:9: error: `cases` is 0; a workload has 1 to 100000 cases\n'
     '    cases 0\n'
     '          ^'),
    ('cases_negative', CASES_NEGATIVE,
     'toy.adrs:17:9: error: `cases` is -3; a workload has 1 to 100000 cases\n'
     '    cases -3\n'
     '          ^^'),
    ('cases_huge', CASES_HUGE,
     'toy.adrs:17:9: error: `cases` is 1000000000000; a workload has 1 to 100000 cases\n'
     '    cases 1000000000000\n'
     '          ^^^^^^^^^^^^^'),
    ('empty_generator_range', EMPTY_GENERATOR_RANGE,
     'toy.adrs:18:40: error: the range 1.0 .. 1.0 is empty\n'
     '    trace load: float[n] = uniform(low = 1.0 .. 1.0, high = 2.0)\n'
     '                                         ^^^^^^^^^^\n'
     '  note: ranges are half-open: `a .. b` holds a and excludes b, so a must be below b'),
    ('empty_assign_range', EMPTY_ASSIGN_RANGE,
     'toy.adrs:18:7: error: the range 4 .. 4 is empty\n'
     '    n = 4 .. 4\n'
     '        ^^^^^^\n'
     '  note: ranges are half-open: `a .. b` holds a and excludes b, so a must be below b'),
]


CASES += [
    ("reduction_in_require", BASE.replace("require n % k == 0", "require sum(i in 0 .. n: i) > 0"),
     "toy.adrs:4:9: error: `sum` reduces, which cannot be done here: this needs a value known before any data "
     "(params and lets over them)\n"
     "  require sum(i in 0 .. n: i) > 0\n"
     "          ^^^^^^^^^^^^^^^^^^^\n"
     "  note: write the closed form, e.g. `n * (n - 1) // 2` for `sum(i in 0 .. n: i)`"),
    ("forall_as_size", BASE.replace("slot: int[n]", "slot: int[if forall i in 0 .. 2: true then n else 1]"),
     "toy.adrs:10:40: error: `forall` reduces, which cannot be done here: this needs a value known before any "
     "data (params and lets over them)\n"
     "  policy assign(load, k) -> slot: int[if forall i in 0 .. 2: true then n else 1], share: float[n]\n"
     "                                         ^^^^^^^^^^^^^^^^^^^^^^^^\n"
     "  note: write the closed form, e.g. `n * (n - 1) // 2` for `sum(i in 0 .. n: i)`"),
]


def test_a_param_without_a_default_skips_the_checks_at_the_defaults():
    # found by fuzzing: the range check compared an index bound with the missing default
    spec = checked(BASE.replace("param n: int = 4 in 1 .. 10", "param n: int in 1 .. 10")
                   + "let first[i in 0 .. 3] = load[i]\nlet all_of[i in 0 .. n] = load[i]\n")
    assert spec.params[0].default is None and [t.name for t in spec.tensors][-2:] == ["first", "all_of"]


@pytest.mark.parametrize("name, text, expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_spec_message(name, text, expected):
    assert render_error(text) == expected


def checked(text: str):
    source = Source("toy.adrs", text)
    return check(parse(source), source).spec


def test_nesting_up_to_the_limit_compiles_to_code_that_parses():
    depth = MAX_NESTING - 1        # the let itself is one level, its operators the rest
    lets = [
        "let deep_minus[i] = " + "-" * depth + "load[i]",
        "let deep_if = " + "if n > 0 then " * (depth // 2) + "1" + " else 0" * (depth // 2),
        "let deep_sum[i] = load[i]" + " + future[i]" * depth,
        "let deep_index[i] = load[" + "slot[" * (depth // 2) + "i" + "]" * (depth // 2) + "]",
        "let deep_power = " + "1 ** " * depth + "2",
    ]
    spec = checked(BASE + "\n".join(lets) + "\nmetric deep = sum(i: deep_minus[i] + deep_sum[i] + "
                   "deep_index[i]) + deep_if + deep_power\n")
    source = generate(spec, "test")["evaluator.py"]
    compile(source, "evaluator.py", "exec")


@pytest.mark.parametrize("order", ["forward", "reversed"])
def test_a_chain_of_1000_static_lets(order):
    lets = [f"let a{j + 1} = a{j} + 1" for j in range(1000)]
    lets = lets if order == "forward" else lets[::-1]
    spec = checked(BASE + "let a0 = n\n" + "\n".join(lets) + "\ninvariant uses: forall i: slot[i] < a1000\n")
    assert [s.name for s in spec.statics][-1] == "a1000"
    from adrs_spec.lang.statics import bind
    assert bind(spec)["a1000"] == 1004


def test_a_chain_of_tensor_lets_each_reading_the_last_twice():
    # deciding which lets read an output visited 2 ** 60 paths before it was memoized
    lets = "".join(f"let a{j + 1}[i] = a{j}[i] + a{j}[i]\n" for j in range(60))
    spec = checked(BASE + "let a0[i] = share[i]\n" + lets + "invariant top: forall i: a60[i] >= 0\n")
    assert spec.invariants[-1].name == "top"


def test_2000_invariants_compile():
    invariants = "".join(f"invariant v{j}: forall i: slot[i] >= -{j}\n" for j in range(2000))
    spec = checked(BASE + invariants)
    assert len(spec.invariants) == 2001
    compile(generate(spec, "test")["evaluator.py"], "evaluator.py", "exec")


@pytest.mark.parametrize("ending", ["\r", "\r\n"])
def test_other_line_endings_parse_as_newlines(ending):
    text = "# a comment on the first line\n" + BASE
    spec = checked(text.replace("\n", ending))
    assert spec.name == "toy" and len(spec.invariants) == 1
    bad = text.replace("max(b: bin_load[b])", "max(b: bin_lod[b])").replace("\n", ending)
    assert render_error(bad) == (
        "toy.adrs:14:48: error: unknown name `bin_lod`\n"
        "  metric balance = mean(b: bin_load[b]) / max(b: bin_lod[b])\n"
        "                                                 ^^^^^^^\n"
        "  note: did you mean `bin_load`?")


@pytest.mark.parametrize("separator", ["\f", "\u2028", "\x1c"])
def test_separators_in_a_comment_do_not_move_the_marker(separator):
    text = f"# a comment{separator}with a separator\n" + BASE.replace("n // k", "n / k")
    assert render_error(text) == (
        "toy.adrs:6:14: error: `/` divides floats, but both sides are ints\n"
        "  let half = n / k\n"
        "               ^\n"
        "  note: use `//` for floor division, or `float(a) / b` for a float result")


def test_a_byte_order_mark_is_not_part_of_the_spec():
    from adrs_spec.frontend.parser import decode_source
    source = decode_source("toy.adrs", b"\xef\xbb\xbf" + BASE.encode())
    assert check(parse(source), source).spec.name == "toy"
