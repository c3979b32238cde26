"""The sandbox's pure parts, in this process: the message codec, the warm-up inputs and the
execution order, output checks, exception formatting, the environment whitelist, the choice
between the two clocks, and the isolation report."""
import socket
import struct

import numpy as np
import pytest

from adrs_spec.sandbox import OutputSpec, timing
from adrs_spec.sandbox.convert import BadOutput, check_outputs, returned_values
from adrs_spec.sandbox.failures import describe_exception, exception_failure
from adrs_spec.sandbox.isolation import Isolation
from adrs_spec.sandbox.limits import scrubbed_environment
from adrs_spec.sandbox.perturb import reversed_call
from adrs_spec.sandbox.protocol import ProtocolError, recv_message, send_message


# ---------------------------------------------------------------- protocol
def round_trip(message, max_bytes=1 << 24):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        send_message(ours, message)
        return recv_message(theirs, None, max_bytes)


def test_messages_carry_arrays_and_scalars_exactly():
    big = np.arange(2 * 256 * 33, dtype=np.int64).reshape(2, 256, 33)
    message = {"op": "call", "args": [big, np.array([[0.5, np.nan]]), np.array([True, False]), 288, 1.5, None,
                                      np.zeros((0, 3), np.float32)]}
    got = round_trip(message)
    assert got["op"] == "call" and got["args"][3:6] == [288, 1.5, None]
    for sent, received in zip(message["args"][:3] + message["args"][6:], got["args"][:3] + got["args"][6:]):
        assert received.dtype == sent.dtype and received.shape == sent.shape
        np.testing.assert_array_equal(received, sent)
    assert got["args"][0].flags.writeable


def test_object_arrays_cannot_be_sent():
    with pytest.raises(TypeError, match="dtype object"):
        round_trip({"values": [np.array([object()])]})


def raw_frame(header: bytes, buffers: list[bytes]) -> bytes:
    return struct.pack(f"!II{len(buffers)}Q", len(header), len(buffers), *map(len, buffers)) + header + b"".join(buffers)


@pytest.mark.parametrize("header, buffers, error", [
    (b'{"v": {"$array": 0, "dtype": "|O8", "shape": [1]}}', [b"\0" * 8], "array dtype"),
    (b'{"v": {"$array": 0, "dtype": "<i8", "shape": [2]}}', [b"\0" * 8], "8 bytes for shape [2]"),
    (b'{"v": {"$array": 3, "dtype": "<i8", "shape": [1]}}', [b"\0" * 8], "array buffer 3"),
    (b'{"v": [1, 2', [], "malformed message"),
])
def test_malformed_messages_are_refused(header, buffers, error):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.sendall(raw_frame(header, buffers))
        with pytest.raises(ProtocolError, match=error.replace("[", r"\[").replace("]", r"\]")):
            recv_message(theirs, None)


def test_oversized_messages_are_refused_before_allocation():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.sendall(struct.pack("!IIQ", 2, 1, 50 * 10**9))
        with pytest.raises(ProtocolError, match="exceeds the expected 1024"):
            recv_message(theirs, None, max_bytes=1024)


# ---------------------------------------------------------------- warm-up inputs and order
def test_the_default_warm_up_is_content_no_call_has_with_the_same_values():
    weight = np.array([[5.0, 1.0, 3.0, 2.0], [0.5, 4.0, 4.5, 1.0]])
    warm_up, replicas = reversed_call((weight, 6))
    assert replicas == 6
    assert not {r.tobytes() for r in weight} & {r.tobytes() for r in warm_up}   # a per-row cache misses too
    np.testing.assert_array_equal(np.sort(warm_up, axis=None), np.sort(weight, axis=None))


def test_execution_order_is_as_given_without_a_seed_and_a_seeded_permutation_with_one():
    assert timing.execution_order(5, None) == [0, 1, 2, 3, 4]
    shuffled = timing.execution_order(8, 1)
    assert sorted(shuffled) == list(range(8)) and shuffled != list(range(8))
    assert timing.execution_order(8, 1) == shuffled                     # the seed decides
    assert timing.execution_order(8, 1, timed_pass=1) != shuffled       # each pass gets its own


# ---------------------------------------------------------------- output checks
OUTS = [OutputSpec("ids", "int", (2, 3)), OutputSpec("load", "float", (2,)), OutputSpec("used", "bool", (3,))]


def check(*values):
    return check_outputs(returned_values(tuple(values), OUTS), OUTS)


def test_accepted_outputs_are_cast():
    ids, load, used = check([[1, 2, 3], [4, 5, 6]], np.array([1, 2], np.int32), np.array([0, 1, 1]))
    assert (ids.dtype, load.dtype, used.dtype) == (np.int64, np.float64, np.bool_)
    np.testing.assert_array_equal(used, [False, True, True])


@pytest.mark.parametrize("values, message", [
    ((np.zeros((2, 3), bool), np.zeros(2), np.zeros(3, bool)),
     "output 1 `ids` has dtype bool; the spec expects integers"),
    ((np.zeros((2, 3)), np.array([1.0, np.inf]), np.zeros(3, bool)),
     "output 2 `load` has 0 NaN and 1 infinite values (first inf at [1]); the spec expects finite floats"),
    ((np.zeros((2, 3)), np.zeros(2), np.array([0, 2, 1])),
     "output 3 `used` has dtype int64 with values other than 0 and 1 (e.g. 2 at [1]); the spec expects booleans"),
    ((np.zeros((2, 3)), np.zeros(3), np.zeros(3, bool)),
     "output 2 `load` has shape (3,); the spec expects (2,)"),
    ((np.zeros((2, 3)), [[1, 2], [3]], np.zeros(3, bool)), "output 2 `load` could not be read as an array"),
    ((np.zeros((2, 3)), np.zeros(2, complex), np.zeros(3, bool)),
     "output 2 `load` has dtype complex128; the spec expects an array of floats"),
])
def test_rejected_outputs(values, message):
    with pytest.raises(BadOutput) as caught:
        check(*values)
    assert str(caught.value).startswith(message)


class LyingTuple(tuple):
    """Claims three items while holding two."""

    def __len__(self):
        return 3


class LyingList(list):
    def __len__(self):
        return 3

    def __iter__(self):
        return iter([np.zeros((2, 3)), np.zeros(2), np.zeros(3, bool)])


class LyingDict(dict):
    def items(self):
        return [("ids", np.zeros((2, 3))), ("load", np.zeros(2)), ("used", np.zeros(3, bool))]


@pytest.mark.parametrize("result, message", [
    (LyingTuple((np.zeros((2, 3)), np.zeros(2))), "the policy returned 2 values; the spec expects 3 (ids, load, used)"),
    (LyingList([np.zeros((2, 3))]), "the policy returned 1 value; the spec expects 3 (ids, load, used)"),
    (LyingDict(ids=np.zeros((2, 3))), "the policy returned a dict with keys (ids); the spec expects the keys "
                                      "(ids, load, used)"),
    ({"ids": np.zeros((2, 3)), "load": np.zeros(2), 3: np.zeros(3)},
     "the policy returned a dict with keys (ids, load, a key of type int); the spec expects the keys (ids, load, used)"),
    ("ids", "the policy returned a value of type str; the spec expects a tuple of 3 arrays (ids, load, used)"),
])
def test_containers_are_read_for_what_they_hold(result, message):
    with pytest.raises(BadOutput) as caught:
        check_outputs(returned_values(result, OUTS), OUTS)
    assert str(caught.value) == message


def test_a_dict_keyed_by_output_names_is_accepted_in_any_order():
    ids, load, used = check_outputs(returned_values(
        {"used": [True, False, True], "ids": np.ones((2, 3), np.int32), "load": [0.5, 1.5]}, OUTS), OUTS)
    np.testing.assert_array_equal(ids, np.ones((2, 3)))
    np.testing.assert_array_equal(load, [0.5, 1.5])
    np.testing.assert_array_equal(used, [True, False, True])


INT64_RANGE = "the spec expects integers from -9223372036854775808 to 9223372036854775807"


@pytest.mark.parametrize("ids, message", [
    (np.array([[1, 2, 3], [4, 5, 1e300]]), f"output 1 `ids` has a value beyond the int64 range (1e+300 at [1, 2]); "
                                          f"{INT64_RANGE}"),
    (np.array([[1.0, 2.0, 3.0], [2.0 ** 63, 5.0, 6.0]]),
     f"output 1 `ids` has a value beyond the int64 range (9.223372036854776e+18 at [1, 0]); {INT64_RANGE}"),
    ([[1, 2, 3], [4, 2 ** 70, 6]], f"output 1 `ids` has a value beyond the int64 range "
                                  f"(1180591620717411303424 at [1, 1]); {INT64_RANGE}"),
    ([[1, 2, 3], [4, 5, -2 ** 63 - 1]], f"output 1 `ids` has a value beyond the int64 range "
                                       f"(-9223372036854775809 at [1, 2]); {INT64_RANGE}"),
    (np.array([[1, 2, 3], [4, 5, 2 ** 63]], np.uint64),
     f"output 1 `ids` has a value beyond the int64 range (9223372036854775808 at [1, 2]); {INT64_RANGE}"),
    ([[1, 2, 3], [4, 5, 2.5]], "output 1 `ids` has dtype float64 with non-integral values (e.g. 2.5 at [1, 2]); "
                               "the spec expects integers"),
    ([[1, 2, 3], [4, 0.5, 2 ** 70]], "output 1 `ids` holds a value of type float at [1, 1]; the spec expects integers"),
])
def test_integers_beyond_int64_and_non_integral_values_name_the_index(ids, message):
    with pytest.raises(BadOutput) as caught:
        check(ids, np.zeros(2), np.zeros(3, bool))
    assert str(caught.value) == message


def test_the_largest_int64_values_are_accepted():
    (ids, _, _) = check([[-2 ** 63, 0, 2 ** 63 - 1], [1, 2, 3]], np.zeros(2), np.zeros(3, bool))
    assert ids.dtype == np.int64 and ids[0, 0] == -2 ** 63 and ids[0, 2] == 2 ** 63 - 1


def test_a_bare_array_is_accepted_only_for_a_single_output():
    single = [OutputSpec("gpu_of", "int", (4,))]
    (gpu_of,) = check_outputs(returned_values(np.arange(4), single), single)
    np.testing.assert_array_equal(gpu_of, [0, 1, 2, 3])
    with pytest.raises(BadOutput, match=r"returned a value of type ndarray; the spec expects a tuple of 3 arrays \(ids, load, used\)"):
        returned_values(np.zeros((2, 3)), OUTS)


# ---------------------------------------------------------------- exceptions the policy raises
class UnprintableError(Exception):
    def __str__(self):
        raise KeyError("no message for you")


class NotAStringError(Exception):
    def __str__(self):
        return 42


class Weird(type):
    @property
    def __name__(cls):
        raise RuntimeError("no name either")


class NamelessError(Exception, metaclass=Weird):
    pass


def test_an_exception_whose_message_cannot_be_formatted_is_reported_as_such():
    assert describe_exception(UnprintableError()) == ("the policy raised UnprintableError; formatting its message "
                                                      "raised KeyError")
    assert describe_exception(NotAStringError()) == ("the policy raised NotAStringError; formatting its message "
                                                     "raised TypeError")
    assert describe_exception(NamelessError("plain")) == "NamelessError: plain"
    failure = exception_failure(UnprintableError(), "p.py", "p.py", None, 3)
    assert (failure.kind, failure.call_index) == ("crash", 3)
    assert failure.message == "the policy raised UnprintableError; formatting its message raised KeyError"


def test_sys_exit_with_an_unprintable_code_is_reported():
    class Code:
        def __repr__(self):
            raise ValueError("no")

    assert exception_failure(SystemExit(Code()), "p.py", "p.py", None, 0).message == "the policy called sys.exit(...)"


# ---------------------------------------------------------------- environment and clocks
def test_environment_keeps_the_whitelist_and_drops_secrets():
    env = scrubbed_environment({"PATH": "/bin", "OMP_NUM_THREADS": "2", "OPENAI_API_KEY": "sk", "GITHUB_TOKEN": "t",
                                "AWS_SECRET_ACCESS_KEY": "s", "HOME": "/home/u", "VIRTUAL_ENV": "/v",
                                "XLA_FLAGS": "--x"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "2", "XLA_FLAGS": "--x"}


@pytest.mark.parametrize("child_ns, caller_ns, expected_s", [
    (50_000_000, 50_400_000, 0.05),      # honest: the precise figure of the policy process
    (10_000, 1_500_000, 0.00001),        # honest, with a millisecond of scheduling noise
    (1, 50_300_000, 0.05),               # a forged report: the caller's clock, less its round trip
])
def test_the_callers_clock_overrides_an_implausible_report(child_ns, caller_ns, expected_s):
    assert timing.policy_seconds(child_ns, caller_ns, round_trip_ns=300_000) == pytest.approx(expected_s)


# ---------------------------------------------------------------- isolation report
def test_isolation_is_described_in_one_line():
    full = Isolation(7, True, True, True, True, True, True, ())
    assert full.describe() == "landlock v7 + userns + netns + no_new_privs + no caps + seccomp + caller not dumpable"
    assert full.complete
    partial = Isolation(None, False, True, True, True, False, False, ("landlock (disabled at boot)", "user namespace"))
    assert partial.describe() == ("netns + no_new_privs + no caps; missing: landlock (disabled at boot); "
                                  "user namespace")
    assert not partial.complete
    assert Isolation.from_json(partial.to_json()) == partial
