"""Hostile and broken policies in one warm numpy Sandbox: each ends in the exact failure kind
with a precise message, nothing survives it, and the Sandbox keeps working afterwards."""
import os
import re
import signal

import numpy as np
import pytest

from adrs_spec.sandbox import Sandbox, SandboxLimits, shared
from sandbox_cases import CALLS, OUTPUTS, descendants, exists, policy, reference_outputs

TIMEOUT_S = 1.5
LIMITS = SandboxLimits(timeout_s=TIMEOUT_S, memory_bytes=2 << 30)
WARM_UP = "(on the untimed warm-up call, which gets the inputs of call 0 reversed)"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(array="numpy", limits=LIMITS) as box:
        yield box


@pytest.fixture(autouse=True)
def nothing_left_behind(sandbox):
    """After every test: the only process below this one is the sandbox's worker."""
    yield
    assert descendants() <= {sandbox.worker_pid}


def run(sandbox, name, function="place", calls=CALLS):
    return sandbox.run_policy(path=policy(name), function=function, calls=calls, outputs=OUTPUTS)


def assert_failure(result, kind, *fragments, call_index=0):
    assert not result.ok
    assert result.failure.kind == kind, result.failure
    for fragment in fragments:
        assert fragment in result.failure.message, result.failure.message
    assert result.failure.call_index == call_index


def assert_reference_outputs(result):
    assert result.ok, result.failure
    assert len(result.outputs) == len(CALLS)
    for got, expected in zip(result.outputs, reference_outputs()):
        assert [a.dtype for a in got] == [np.int64, np.int64, np.float64]
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- good policies
def test_good_policy_returns_the_reference_outputs_and_times(sandbox):
    result = run(sandbox, "good_numpy.py")
    assert_reference_outputs(result)
    assert len(result.times_s) == len(CALLS)
    assert result.repeat_times_s == [[t] for t in result.times_s]      # one timed pass by default
    assert all(t > 0 for t in result.times_s)


def test_each_timed_pass_is_a_fresh_process_and_the_time_is_the_median(sandbox):
    result = sandbox.run_policy(path=policy("good_numpy.py"), function="place", calls=CALLS, outputs=OUTPUTS,
                                repeats=3)
    assert_reference_outputs(result)
    assert [len(r) for r in result.repeat_times_s] == [3, 3]
    assert result.times_s == [sorted(r)[1] for r in result.repeat_times_s]


def test_integral_float_outputs_are_accepted_as_ints(sandbox):
    result = run(sandbox, "integral_floats.py")
    assert result.ok, result.failure
    assert result.outputs[0][0].dtype == np.int64 and result.outputs[0][1].dtype == np.int64
    np.testing.assert_array_equal(result.outputs[0][1], [[2, 2, 1, 1], [2, 2, 1, 1]])


def test_a_policy_that_prints_a_lot_does_not_block(sandbox):
    assert run(sandbox, "chatty.py").ok


# ---------------------------------------------------------------- runtime failures
def test_exception_is_a_crash_with_the_policy_traceback(sandbox):
    result = run(sandbox, "raises.py")
    assert_failure(result, "crash", "ValueError: weights must be sorted")
    assert result.failure.message == "ValueError: weights must be sorted"     # the real inputs fail too: no note
    detail = result.failure.detail
    assert f'File "{policy("raises.py")}", line 6, in place' in detail
    assert f'File "{policy("raises.py")}", line 2, in check' in detail
    assert detail.endswith("ValueError: weights must be sorted")


def test_an_exception_that_cannot_be_formatted_is_reported_as_such(sandbox):
    result = run(sandbox, "unprintable_error.py")
    assert_failure(result, "crash")
    assert result.failure.message == "the policy raised Unprintable; formatting its message raised KeyError"
    assert result.failure.detail.endswith(result.failure.message)


def test_printed_lines_end_up_in_the_failure_detail(sandbox):
    result = run(sandbox, "chatty.py", function="place_then_fail")
    assert_failure(result, "crash", "RuntimeError: gave up after printing")
    assert "progress line 19999" in result.failure.detail


def test_infinite_loop_times_out_and_says_where(sandbox):
    result = run(sandbox, "loops_forever.py")
    assert_failure(result, "timeout", f"did not return within {TIMEOUT_S:g} s (the time limit per call) "
                                      f"on the untimed warm-up call")
    # the loop is caught on its `while` line or its body line, then the caller's line
    assert re.search(f'File "{re.escape(policy("loops_forever.py"))}", line [34] in spin\n'
                     f'.*loops_forever.py", line 8 in place$', result.failure.detail)


def test_sleeping_past_the_limit_times_out(sandbox):
    result = run(sandbox, "sleeps_past_timeout.py")
    assert_failure(result, "timeout", f"did not return within {TIMEOUT_S:g} s")
    assert "line 5 in place" in result.failure.detail


def test_50_gb_allocation_fails_as_memory(sandbox):
    result = run(sandbox, "allocates_50gb.py")
    assert_failure(result, "memory", "the policy ran out of memory (limit 2.0 GiB)", "Unable to allocate 46.6 GiB")


def test_segfault_is_killed_by_signal(sandbox):
    assert_failure(run(sandbox, "segfaults.py"), "killed", "the policy process was killed by SIGSEGV", WARM_UP)


def test_exiting_without_returning_is_a_crash(sandbox):
    assert_failure(run(sandbox, "exits.py"), "crash", "exited with status 3 without returning")


def test_failing_only_on_the_warm_up_inputs_says_so(sandbox):
    result = run(sandbox, "fails_on_other_inputs.py", calls=CALLS[:1])
    assert_failure(result, "crash", "AssertionError: expected the heaviest expert first " + WARM_UP)


# ---------------------------------------------------------------- bad outputs
@pytest.mark.parametrize("name, message", [
    ("wrong_shape.py", "output 1 `phy2log` has shape (2, 5); the spec expects (2, 6)"),
    ("wrong_dtype.py", "output 1 `phy2log` has dtype float64 with non-integral values (e.g. 0.5 at [0, 0]); "
                       "the spec expects integers"),
    ("nan_output.py", "output 3 `share` has 1 NaN and 0 infinite values (first nan at [1, 2]); "
                      "the spec expects finite floats"),
    ("wrong_count.py", "the policy returned 2 values; the spec expects 3 (phy2log, logcnt, share)"),
    ("returns_none.py", "the policy returned None; the spec expects a tuple of 3 arrays (phy2log, logcnt, share)"),
    ("lies_about_length.py", "the policy returned 2 values; the spec expects 3 (phy2log, logcnt, share)"),
    ("huge_float_for_int.py", "output 1 `phy2log` has a value beyond the int64 range (1e+300 at [1, 4]); the spec "
                              "expects integers from -9223372036854775808 to 9223372036854775807"),
])
def test_bad_outputs(sandbox, name, message):
    result = run(sandbox, name)
    assert_failure(result, "bad_output", message)
    assert result.failure.message == message


# ---------------------------------------------------------------- loading
def test_missing_file(sandbox):
    path = policy("no_such_policy.py")
    result = sandbox.run_policy(path=path, function="place", calls=CALLS, outputs=OUTPUTS)
    assert_failure(result, "load_error", f"{path}: no such policy file", call_index=None)


def test_syntax_error_names_file_and_line(sandbox):
    result = run(sandbox, "syntax_error.py")
    assert_failure(result, "load_error", f"{policy('syntax_error.py')}:5: syntax error: '(' was never closed",
                   call_index=None)


def test_missing_function_lists_what_the_file_defines(sandbox):
    result = run(sandbox, "wrong_arity.py", function="rebalance_experts")
    assert_failure(result, "load_error", f"{policy('wrong_arity.py')} defines no function `rebalance_experts`; "
                                         f"it defines: normalise, place", call_index=None)


def test_wrong_arity_shows_signature_and_arguments(sandbox):
    result = run(sandbox, "wrong_arity.py")
    assert_failure(result, "load_error", f"{policy('wrong_arity.py')}:8: `place(weight)` cannot take the 2 "
                                         f"positional arguments the spec passes: (float64[2, 4], 6)", call_index=None)


def test_a_file_that_never_finishes_importing_times_out(sandbox):
    result = run(sandbox, "loops_at_import.py")
    assert_failure(result, "timeout", f"did not return within {TIMEOUT_S:g} s (the time limit per call) "
                                      f"while loading the policy file", call_index=None)
    assert re.search(f'File "{re.escape(policy("loops_at_import.py"))}", line [23] in <module>$', result.failure.detail)


def test_failing_import_is_a_load_error(sandbox):
    result = run(sandbox, "import_fails.py")
    assert_failure(result, "load_error", f"importing {policy('import_fails.py')} failed: ModuleNotFoundError: "
                                         f"No module named 'a_module_that_does_not_exist'", call_index=None)
    assert 'line 2, in <module>' in result.failure.detail


# ---------------------------------------------------------------- cheating
def test_memoizing_policy_is_measured_at_its_true_cost(sandbox):
    result = run(sandbox, "memoizes.py")
    assert_reference_outputs(result)         # the kept outputs are those of the real inputs
    assert min(t for r in result.repeat_times_s for t in r) >= 0.025


def test_replacing_the_clock_does_not_change_the_measured_time(sandbox):
    result = run(sandbox, "replaces_clock.py")
    assert result.ok, result.failure
    assert min(t for r in result.repeat_times_s for t in r) >= 0.04


def test_forging_the_reported_time_is_caught_by_the_callers_clock(sandbox):
    result = run(sandbox, "forges_report.py")
    assert result.ok, result.failure
    assert min(t for r in result.repeat_times_s for t in r) >= 0.04


def test_writing_to_the_sandbox_channel_is_forbidden(sandbox):
    result = run(sandbox, "tampers_channel.py")
    assert_failure(result, "forbidden", "the policy process sent a malformed message (malformed message: header of "
                                        "1073741824 bytes, 0 buffers); a policy must not write to the sandbox's channel")


def test_policy_sees_no_credentials(monkeypatch):
    secrets = {"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test", "GITHUB_TOKEN": "ghp_test",
               "AWS_SECRET_ACCESS_KEY": "aws-test"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    with Sandbox(array="numpy", limits=LIMITS) as fresh:       # started with the secrets in our environment
        result = fresh.run_policy(path=policy("reads_secrets.py"), function="place", calls=CALLS, outputs=OUTPUTS)
    assert result.ok, result.failure
    flags = result.outputs[0][1]
    assert flags[0, 0] == 0                   # no secret-looking variable, in os.environ or /proc/self/environ
    assert flags[0, 1] == 1                   # HOME is a scratch folder
    assert 0 < flags[0, 2] < 25               # a short whitelist, not our environment


def test_written_files_are_forbidden_and_deleted(sandbox, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(sandbox, "writes_files.py")
    assert_failure(result, "forbidden", "the policy wrote files in its working directory: "
                                        "cache.npy, results/, results/run.txt; "
                                        "a policy must not write files (they were deleted)", call_index=None)
    assert os.listdir(tmp_path) == []
    assert [d for d in os.listdir(sandbox.scratch_dir) if d.startswith("candidate-")] == []


def test_processes_left_behind_are_killed(sandbox):
    before = descendants()
    result = run(sandbox, "forks_survivor.py")
    assert result.ok, result.failure
    child, daemon = (int(p) for p in result.outputs[0][0][0, :2])
    assert child > 0 and daemon > 0
    assert not exists(child) and not exists(daemon)
    assert descendants() == before == {sandbox.worker_pid}


def test_a_crashed_worker_is_restarted(sandbox):
    old = sandbox.worker_pid
    os.kill(old, signal.SIGKILL)
    assert_reference_outputs(run(sandbox, "good_numpy.py"))
    assert sandbox.worker_pid not in (None, old)


def test_outputs_travel_over_the_socket_without_a_shared_area(sandbox, monkeypatch):
    monkeypatch.setattr(shared, "create_area", lambda size: None)     # as on a system without memfd
    assert_reference_outputs(run(sandbox, "good_numpy.py"))


def test_a_memory_limit_below_the_workers_own_footprint_is_reported():
    with Sandbox(array="numpy", limits=SandboxLimits(timeout_s=TIMEOUT_S, memory_bytes=64 << 20)) as small:
        result = small.run_policy(path=policy("good_numpy.py"), function="place", calls=CALLS, outputs=OUTPUTS)
    assert_failure(result, "memory", "the memory limit (64.0 MiB) is below what the sandbox process with numpy maps "
                                     "before any policy runs", call_index=None)


# ---------------------------------------------------------------- afterwards
def test_good_policy_still_runs_after_the_hostile_ones(sandbox):
    assert_reference_outputs(run(sandbox, "good_numpy.py"))


def test_cold_mode_gives_the_same_results_and_leaves_nothing():
    before = descendants()
    with Sandbox(array="numpy", limits=LIMITS, warm=False) as cold:
        assert cold.worker_pid is None
        assert_reference_outputs(cold.run_policy(path=policy("good_numpy.py"), function="place", calls=CALLS,
                                                 outputs=OUTPUTS))
        crash = cold.run_policy(path=policy("raises.py"), function="place", calls=CALLS, outputs=OUTPUTS)
        assert crash.failure.kind == "crash"
    assert descendants() == before


def test_closing_the_sandbox_leaves_no_process_and_no_directory():
    before = descendants()
    box = Sandbox(array="numpy", limits=LIMITS)
    box.start()
    root = box.scratch_dir
    assert box.run_policy(path=policy("forks_survivor.py"), function="place", calls=CALLS[:1], outputs=OUTPUTS).ok
    box.close()
    assert descendants() == before
    assert not os.path.exists(root)
