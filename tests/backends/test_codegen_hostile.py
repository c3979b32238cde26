"""Generated code from hostile specs: every string escaped, no spec name shadowing what the
generated code calls, and a compile that checks the code it writes."""
import numpy as np
import pytest

from adrs_spec.backends.jax.codegen import generate
from adrs_spec.backends.reference.instance import evaluate_instance
from adrs_spec.compile import check_python, compile_spec
from adrs_spec.errors import CompilerBug, Source
from adrs_spec.evaluator import Evaluator, compile_in_memory
from adrs_spec.compile import check_source
from adrs_spec.lang.statics import bind
from conftest import small_eplb_text

TOY = ('spec toy "A toy"\nparam n: int = 4 in 1 .. 10\nparam k: int = 2\n'
       'instance {\n  observe load: float[n] >= 0\n}\n'
       'policy assign(load, k) -> slot: int[n]\n'
       'invariant in_range: forall i: 0 <= slot[i] < k\n'
       'metric total = sum(i: load[i])\n')


def spec_of(text: str, name: str = "toy.adrs"):
    return check_source(Source(name, text))


def evaluate_both(spec, fields: dict, outputs: dict, params: dict | None = None):
    """(reference, generated) evaluations of one instance."""
    ref = evaluate_instance(spec, bind(spec, params or {}), {**fields, **outputs})
    (got,) = Evaluator(spec, compile_in_memory(spec)).evaluate_batch(params or {}, [fields], [outputs])
    return ref, got


def test_a_title_with_backslashes_and_control_characters_is_escaped():
    title = 'A \\N toy \\x1 \x01 with\ta tab and \\'
    spec = spec_of(TOY.replace('"A toy"', f'"{title}"'))
    module = compile_in_memory(spec)
    assert module.__doc__.splitlines()[2] == f"{title} (spec `toy`): the guards, one function per invariant,"


def test_a_file_name_with_a_newline_and_quotes_injects_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain, odd = tmp_path / "toy.adrs", tmp_path / 'to"""y\nimport os\n#.adrs'
    plain.write_text(TOY)
    odd.write_text(TOY)
    plain_code = compile_spec(str(plain)).files["evaluator.py"]
    result = compile_spec(str(odd))
    code = result.files["evaluator.py"]
    namespace: dict = {}
    exec(compile(code, "evaluator.py", "exec"), namespace)
    assert namespace["SOURCE"] == 'to"""y\nimport os\n#.adrs'
    assert "os" not in namespace
    assert len(code.splitlines()) == len(plain_code.splitlines())
    assert '# to"""y\\nimport os\\n#.adrs:8 invariant in_range' in code


def test_names_of_builtins_and_of_the_generated_code_are_renamed():
    text = (TOY.replace("observe load", "observe abs").replace("assign(load", "assign(abs")
            .replace("sum(i: load[i])", "sum(i: abs(abs[i]))")
            .replace("param k: int = 2", "param max: int = 2\nparam max_: int = 3\nparam k: int = 2")
            + "let len = max(max, max_)\nmetric guards = float(len) + max(1, max)\n"
            + "invariant metrics: forall i: slot[i] < len\n")
    spec = spec_of(text)
    code = generate(spec, "test")["evaluator.py"]
    assert "def in_range(s: Statics, slot):" in code and "    max__ = values['max_']" in code
    assert "    len_ = max(max_, max__)" in code
    ref, got = evaluate_both(spec, {"abs": np.array([1.0, -2.0, 3.0, -4.0])},
                             {"slot": np.array([0, 1, 0, 1])})
    assert got.metrics == ref.metrics == {"total": 10.0, "guards": 5.0}
    assert [g.passed for g in got.guards] == [g.passed for g in ref.guards] == [True, True]


def test_a_rank_function_never_takes_a_spec_name():
    # `max` has a ragged rank axis (a one-rank companion function), and another invariant
    # is already called what that companion would be
    text = small_eplb_text().replace("invariant replica_slots_in_range:", "invariant max:")
    text += "\ninvariant max__on_rank: forall l, e: logcnt[l, e] <= replicas\n"
    spec = spec_of(text, "eplb_small.adrs")
    code = generate(spec, "test")["evaluator.py"]
    assert "def max__on_rank_(s: Statics" in code and "on_rank=(max__on_rank_, " in code
    rng = np.random.default_rng(0)
    load = rng.multinomial(4096, np.full(16, 1 / 16), size=(2, 3)).astype(np.float64)
    outputs = {"phy2log": np.tile(np.arange(24) % 16, (3, 1)), "logcnt": np.tile(np.where(np.arange(16) < 8, 2, 1), (3, 1))}
    outputs["log2phy"] = np.full((3, 16, 9), -1)
    outputs["log2phy"][:, :, 0] = np.arange(16)
    outputs["log2phy"][:, :8, 1] = np.arange(16, 24)
    ref, got = evaluate_both(spec, {"weight": load[0], "next": load[1]}, outputs)
    assert got.passed and ref.passed
    assert got.metrics["balance"] == pytest.approx(ref.metrics["balance"], rel=1e-5)


def test_a_10_deep_if_chain_in_a_scalar_let():
    chain = "if n > 1 then " * 10 + "1" + " else 2" * 10
    spec = spec_of(TOY + f"let depth = {chain}\ninvariant below: forall i: slot[i] < depth + 5\n")
    module = compile_in_memory(spec)
    assert module.bind_statics().depth == 1
    assert module.bind_statics({"n": 1}).depth == 2


def test_code_that_does_not_parse_is_a_compiler_bug():
    with pytest.raises(CompilerBug) as info:
        check_python({"evaluator.py": "def f(:\n", "manifest.json": "{"}, "toy")
    assert str(info.value).startswith("the generated toy/evaluator.py does not compile (invalid syntax")


def test_many_invariants_are_compiled_in_parts_and_agree_with_the_reference():
    from adrs_spec.backends.jax.codegen import GUARDS_PER_PART

    count = 2 * GUARDS_PER_PART + 5
    spec = spec_of(TOY + "".join(f"invariant v{j}: forall i: slot[i] >= {j % 7 - 4}\n" for j in range(count)))
    code = generate(spec, "test")["evaluator.py"]
    assert "def per_instance(s: Statics, t: dict, part: int = 0) -> dict:" in code
    assert "    parts = [compiled(part) for part in range(3)]" in code
    fields = {"load": np.array([1.0, 2.0, 3.0, 4.0])}
    evaluator = Evaluator(spec, compile_in_memory(spec))
    outputs = [{"slot": np.array([0, 1, 1, 0]) - shift} for shift in range(4)]
    for out, got in zip(outputs, evaluator.evaluate_batch({}, [fields] * 4, outputs)):
        ref = evaluate_instance(spec, bind(spec, {}), {**fields, **out})
        assert [(g.name, g.passed, g.witness) for g in got.guards] == \
            [(g.name, g.passed, g.witness) for g in ref.guards]
        assert got.metrics == ref.metrics
    (first,) = evaluator.evaluate_batch({}, [fields], outputs[:1])
    assert {g.name for g in first.guards if not g.passed} == {f"v{j}" for j in range(count) if j % 7 > 4}
