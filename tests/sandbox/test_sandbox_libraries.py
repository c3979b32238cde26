"""Policies written against torch and jax, and the shipped EPLB baselines, run in the sandbox
at a small shape and return exactly what they return when called directly."""
import os

import numpy as np
import pytest

from adrs_spec.sandbox import OutputSpec, Sandbox, SandboxLimits
from sandbox_cases import CALLS, OUTPUTS, ROOT, descendants, load_module, policy, reference_outputs

LIMITS = SandboxLimits(timeout_s=20.0, memory_bytes=6 << 30)
# EPLB at a small shape: 3 layers, 16 experts, 24 replicas, 4 groups, 2 nodes, 4 gpus.
LAYERS, EXPERTS, REPLICAS, GROUPS, NODES, GPUS = 3, 16, 24, 4, 2, 4
EPLB_OUTPUTS = [OutputSpec("phy2log", "int", (LAYERS, REPLICAS)),
                OutputSpec("log2phy", "int", (LAYERS, EXPERTS, REPLICAS - EXPERTS + 1)),
                OutputSpec("logcnt", "int", (LAYERS, EXPERTS))]


def eplb_calls():
    rng = np.random.default_rng(7)
    return [(rng.integers(0, 1000, size=(LAYERS, EXPERTS)).astype(np.float64), REPLICAS, GROUPS, NODES, GPUS)
            for _ in range(2)]


def shipped(name):
    return os.path.join(ROOT, "specs", "eplb", "policies", name)


def assert_same_as_direct_call(result, path, calls):
    """The sandboxed outputs equal those of calling the policy in this process."""
    assert result.ok, result.failure
    function = load_module(path).rebalance_experts
    for got, args in zip(result.outputs, calls):
        expected = function(*(a.copy() if isinstance(a, np.ndarray) else a for a in args))
        assert [g.shape for g in got] == [o.shape for o in EPLB_OUTPUTS]
        for g, e in zip(got, expected):
            assert g.dtype == np.int64
            np.testing.assert_array_equal(g, np.asarray(e))


@pytest.fixture(scope="module")
def torch_sandbox():
    pytest.importorskip("torch")
    with Sandbox(array="torch", limits=LIMITS) as box:
        yield box
    assert descendants() == set()


def test_torch_policy(torch_sandbox):
    result = torch_sandbox.run_policy(path=policy("good_torch.py"), function="place", calls=CALLS, outputs=OUTPUTS)
    assert result.ok, result.failure
    for got, expected in zip(result.outputs, reference_outputs()):
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_shipped_deepseek_with_torch(torch_sandbox):
    calls = eplb_calls()
    result = torch_sandbox.run_policy(path=shipped("deepseek.py"), function="rebalance_experts", calls=calls,
                                      outputs=EPLB_OUTPUTS)
    assert_same_as_direct_call(result, shipped("deepseek.py"), calls)


def test_torch_allocation_failure_is_memory(torch_sandbox):
    result = torch_sandbox.run_policy(path=policy("allocates_50gb_torch.py"), function="place", calls=CALLS,
                                      outputs=OUTPUTS)
    assert result.failure.kind == "memory"
    assert "DefaultCPUAllocator: can't allocate memory" in result.failure.message


def test_shipped_round_robin_with_numpy():
    calls = eplb_calls()
    with Sandbox(array="numpy", limits=LIMITS) as box:
        result = box.run_policy(path=shipped("round_robin.py"), function="rebalance_experts", calls=calls,
                                outputs=EPLB_OUTPUTS)
    assert_same_as_direct_call(result, shipped("round_robin.py"), calls)


def test_jax_policy():
    pytest.importorskip("jax")
    with Sandbox(array="jax", limits=LIMITS) as box:
        result = box.run_policy(path=policy("good_jax.py"), function="place", calls=CALLS, outputs=OUTPUTS)
        oom = box.run_policy(path=policy("allocates_50gb_jax.py"), function="place", calls=CALLS, outputs=OUTPUTS)
    assert result.ok, result.failure
    for got, expected in zip(result.outputs, reference_outputs()):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_allclose(got[2], expected[2], rtol=1e-6)    # jax computes in float32
    assert oom.failure.kind == "memory"
    assert "RESOURCE_EXHAUSTED" in oom.failure.message
