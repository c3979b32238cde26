"""The sandbox's pure parts, in this process: the message codec, input variants, output
checks, the environment whitelist, and the choice between the two clocks."""
import socket
import struct

import numpy as np
import pytest

from adrs_spec.sandbox import OutputSpec, timing
from adrs_spec.sandbox.convert import BadOutput, check_outputs, returned_values
from adrs_spec.sandbox.limits import scrubbed_environment
from adrs_spec.sandbox.perturb import reversed_call, shifted_call
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


# ---------------------------------------------------------------- input variants
def test_shifted_variants_are_new_content_with_the_same_values():
    weight = np.array([[5.0, 1.0, 3.0, 2.0], [0.5, 4.0, 4.5, 1.0]])
    variants = [shifted_call((weight, 6), v)[0] for v in (1, 2, 3)] + [reversed_call((weight, 6))[0]]
    contents = {weight.tobytes()} | {v.tobytes() for v in variants}
    assert len(contents) == 5
    rows = {r.tobytes() for r in weight}
    for variant in variants:
        np.testing.assert_array_equal(np.sort(variant, axis=None), np.sort(weight, axis=None))
        assert not rows & {r.tobytes() for r in variant}     # every row changes: a per-row cache misses too
    assert shifted_call((weight, 6), 1)[1] == 6


def test_shifts_keep_entries_of_different_arrays_aligned():
    size, rate = np.arange(5.0), np.arange(5.0) * 10
    new_size, new_rate = shifted_call((size, rate, 3), 2)[:2]
    np.testing.assert_array_equal(new_rate, new_size * 10)
    assert not np.array_equal(new_size, size)


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


def test_a_bare_array_is_accepted_only_for_a_single_output():
    single = [OutputSpec("gpu_of", "int", (4,))]
    (gpu_of,) = check_outputs(returned_values(np.arange(4), single), single)
    np.testing.assert_array_equal(gpu_of, [0, 1, 2, 3])
    with pytest.raises(BadOutput, match=r"returned a value of type ndarray; the spec expects a tuple of 3 arrays \(ids, load, used\)"):
        returned_values(np.zeros((2, 3)), OUTS)


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
