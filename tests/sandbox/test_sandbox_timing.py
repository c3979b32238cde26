"""Honest time, checked by structure rather than by clocks: every timed execution is one of
the caller's real instances, exactly once per policy process, in the order the seed gives;
the warm-up runs on content no timed call has; a memoizing policy finds nothing to reuse."""
import hashlib

import numpy as np
import pytest

from adrs_spec.sandbox import Sandbox, SandboxLimits, timing
from sandbox_cases import OUTPUTS, descendants, policy

LIMITS = SandboxLimits(timeout_s=10.0, memory_bytes=2 << 30)
RNG = np.random.default_rng(11)
INSTANCES = [(RNG.integers(1, 100, size=(2, 4)).astype(np.float64), 6) for _ in range(6)]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(array="numpy", limits=LIMITS) as box:
        yield box
    assert descendants() == set()


def digest(weight) -> int:
    return int.from_bytes(hashlib.sha1(np.ascontiguousarray(weight).tobytes()).digest()[:6], "little")


def reports(sandbox, calls=INSTANCES, function="place", **options):
    """(cache hits, execution number, input digest) the policy reported for each call."""
    result = sandbox.run_policy(path=policy("counts_cache_hits.py"), function=function, calls=calls,
                                outputs=OUTPUTS, **options)
    assert result.ok, result.failure
    assert len(result.times_s) == len(calls)
    return [tuple(int(v) for v in outputs[0][0, :3]) for outputs in result.outputs]


def test_each_call_runs_once_on_its_real_instance_after_one_warm_up(sandbox):
    got = reports(sandbox)
    assert [hits for hits, _, _ in got] == [0] * len(INSTANCES)           # nothing to reuse
    assert [number for _, number, _ in got] == list(range(2, len(INSTANCES) + 2))   # 1 was the warm-up
    assert [key for _, _, key in got] == [digest(w) for w, _ in INSTANCES]        # outputs[i] is calls[i]'s


def test_a_seed_shuffles_the_order_and_outputs_stay_with_their_calls(sandbox):
    got = reports(sandbox, seed=5)
    order = timing.execution_order(len(INSTANCES), 5)
    assert order != list(range(len(INSTANCES)))
    assert [got[i][1] for i in order] == list(range(2, len(INSTANCES) + 2))
    assert [key for _, _, key in got] == [digest(w) for w, _ in INSTANCES]
    assert [hits for hits, _, _ in got] == [0] * len(INSTANCES)
    assert reports(sandbox, seed=5) == got                                  # the same seed, the same order


def test_warm_up_instances_run_first_and_are_never_timed(sandbox):
    warm = [(RNG.integers(1, 100, size=(2, 4)).astype(np.float64), 6) for _ in range(2)]
    got = reports(sandbox, warmup_calls=warm)
    assert [number for _, number, _ in got] == list(range(3, len(INSTANCES) + 3))
    assert {key for _, _, key in got}.isdisjoint({digest(w) for w, _ in warm})
    assert [hits for hits, _, _ in got] == [0] * len(INSTANCES)


def test_every_timed_pass_is_a_fresh_process(sandbox):
    # place_once raises on an input it has seen: a second pass in the same process would fail
    result = sandbox.run_policy(path=policy("counts_cache_hits.py"), function="place_once", calls=INSTANCES,
                                outputs=OUTPUTS, repeats=3, seed=1)
    assert result.ok, result.failure
    assert [len(times) for times in result.repeat_times_s] == [3] * len(INSTANCES)


def test_a_repeated_instance_is_the_callers_to_avoid(sandbox):
    # the sandbox runs what it is given: the same instance twice is a cache hit
    got = reports(sandbox, calls=[INSTANCES[0], INSTANCES[0]])
    assert [hits for hits, _, _ in got] == [0, 1]
