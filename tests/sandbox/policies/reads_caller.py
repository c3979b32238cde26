"""Tries to read the caller's memory and environment. Gets (weight, replicas, caller pid,
address of a marker the caller holds) and reports in phy2log's first row the errno of
each attempt (0 if it worked) for /proc/PID/environ, /proc/PID/mem at the marker, /proc/PID/maps,
process_vm_readv at the marker. phy2log's second row, column 0: the marker value it read
(0 if none)."""
import ctypes
import os
import struct

import numpy as np


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


def _errno_of(action):
    try:
        return 0, action()
    except OSError as error:
        return error.errno, None


def _read_file(path, offset=0, size=None):
    with open(path, "rb") as handle:
        handle.seek(offset)
        return handle.read(size)


def _vm_read(pid, address):
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(8)
    local, remote = _IoVec(ctypes.cast(buffer, ctypes.c_void_p), 8), _IoVec(address, 8)
    if libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0) != 8:
        raise OSError(ctypes.get_errno(), "process_vm_readv")
    return buffer.raw


def place(weight, replicas, caller, address):
    layers, experts = weight.shape
    environ, _ = _errno_of(lambda: _read_file(f"/proc/{caller}/environ"))
    mem, marker = _errno_of(lambda: _read_file(f"/proc/{caller}/mem", address, 8))
    maps, _ = _errno_of(lambda: _read_file(f"/proc/{caller}/maps"))
    vm, remote = _errno_of(lambda: _vm_read(caller, address))
    found = marker or remote
    report = np.zeros((layers, replicas), np.int64)
    report[0, :4] = environ, mem, maps, vm
    report[1, 0] = struct.unpack("<q", found)[0] if found else 0
    return report, np.ones((layers, experts), np.int64), weight
