"""Messages between the sandbox and a policy process over a stream socket.

A message is a JSON header plus raw array buffers, never a pickle: the policy process runs
untrusted code that can write anything to its end of the socket, and unpickling its bytes
would run code in the caller. Arrays (bool, int, uint, float only) travel as their raw
bytes after the header, so a 58x256x33 int64 result costs one copy on each side.

Frame: `!II` (header length, buffer count), one `!Q` length per buffer, the JSON header,
then the buffers. In the header an array is `{"$array": i, "dtype": "<i8", "shape": [...]}`
and tuples arrive as lists.
"""
from __future__ import annotations

import json
import math
import re
import socket
import struct
import time

import numpy as np

MAX_HEADER_BYTES = 16 << 20
MAX_BUFFERS = 4096
SMALL_MESSAGE_BYTES = 1 << 16          # below this, the frame goes out in one send
_DTYPE_PATTERN = re.compile(r"^[<>|=]?[biuf][1-9][0-9]?$")


class ProtocolError(Exception):
    """A malformed message (from a policy process: tampering or a corrupted stream)."""


class ChannelClosed(Exception):
    """The other end closed the socket (the process died or exited)."""


class ChannelTimeout(Exception):
    """No complete message arrived before the deadline."""


# ------------------------------------------------------------------ encoding
def encode(message) -> tuple[bytes, list[memoryview]]:
    """The JSON header of `message` and the array buffers it refers to."""
    buffers: list[memoryview] = []
    header = json.dumps(_pack(message, buffers), separators=(",", ":")).encode()
    return header, buffers


def _pack(value, buffers: list):
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise TypeError(f"cannot send an array of dtype {value.dtype}")
        array = np.ascontiguousarray(value)
        buffers.append(memoryview(array.reshape(-1)).cast("B") if array.nbytes else memoryview(b""))
        return {"$array": len(buffers) - 1, "dtype": array.dtype.str, "shape": list(array.shape)}
    if isinstance(value, (list, tuple)):
        return [_pack(v, buffers) for v in value]
    if isinstance(value, dict):
        return {str(k): _pack(v, buffers) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


def decode(header: bytes, buffers: list[bytearray]):
    try:
        return _unpack(json.loads(header), buffers)
    except (ValueError, RecursionError, TypeError, KeyError, IndexError) as error:
        raise ProtocolError(f"malformed message: {error}") from None


def _unpack(value, buffers: list):
    if isinstance(value, dict):
        if "$array" in value:
            return _array(value, buffers)
        return {k: _unpack(v, buffers) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, buffers) for v in value]
    return value


def _array(entry: dict, buffers: list) -> np.ndarray:
    index, dtype, shape = entry["$array"], entry["dtype"], entry["shape"]
    if not isinstance(dtype, str) or not _DTYPE_PATTERN.match(dtype):
        raise ProtocolError(f"malformed message: array dtype {dtype!r}")
    if not isinstance(index, int) or not 0 <= index < len(buffers):
        raise ProtocolError(f"malformed message: array buffer {index!r}")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ProtocolError(f"malformed message: array shape {shape!r}")
    dtype = np.dtype(dtype)
    buffer = buffers[index]
    if math.prod(shape) * dtype.itemsize != len(buffer):
        raise ProtocolError(f"malformed message: {len(buffer)} bytes for shape {shape} of {dtype}")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


# ------------------------------------------------------------------ framing
def send_message(sock: socket.socket, message) -> None:
    header, buffers = encode(message)
    prefix = struct.pack(f"!II{len(buffers)}Q", len(header), len(buffers), *(b.nbytes for b in buffers))
    if len(header) + sum(b.nbytes for b in buffers) <= SMALL_MESSAGE_BYTES:
        sock.sendall(b"".join([prefix, header, *buffers]))
        return
    sock.sendall(prefix + header)
    for buffer in buffers:
        sock.sendall(buffer)


def recv_message(sock: socket.socket, deadline: float | None = None, max_bytes: int = 1 << 20):
    """The next message; `deadline` is a time.monotonic() value (None waits forever) and
    `max_bytes` caps the array bytes accepted, so a hostile peer cannot make us allocate."""
    header_length, count = struct.unpack("!II", _recv_exact(sock, 8, deadline))
    if header_length > MAX_HEADER_BYTES or count > MAX_BUFFERS:
        raise ProtocolError(f"malformed message: header of {header_length} bytes, {count} buffers")
    lengths = struct.unpack(f"!{count}Q", _recv_exact(sock, 8 * count, deadline)) if count else ()
    if sum(lengths) > max_bytes:
        raise ProtocolError(f"message of {sum(lengths)} bytes exceeds the expected {max_bytes}")
    header = _recv_exact(sock, header_length, deadline)
    buffers = [_recv_exact(sock, n, deadline) for n in lengths]
    return decode(bytes(header), buffers)


def _recv_exact(sock: socket.socket, size: int, deadline: float | None) -> bytearray:
    data = bytearray(size)
    view = memoryview(data)
    received = 0
    while received < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ChannelTimeout()
            sock.settimeout(remaining)
        try:
            count = sock.recv_into(view[received:])
        except socket.timeout:
            raise ChannelTimeout() from None
        except (ConnectionResetError, BrokenPipeError):
            raise ChannelClosed() from None
        if count == 0:
            raise ChannelClosed()
        received += count
    return data
