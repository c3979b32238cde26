"""Thin ctypes wrappers of the Linux system calls the isolation layers use (isolation.py
decides what to apply): unshare, prctl, capset, Landlock, and a seccomp filter. Each raises
OSError with the errno and the call's name when the kernel refuses.

The C library is the one the interpreter already links (`CDLL(None)`): no lookup, no
subprocess, so the wrappers are cheap to call right after a fork.
"""
from __future__ import annotations

import ctypes
import errno
import os
import platform
import sys

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Landlock (the syscall numbers are the same on every architecture).
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15       # ABI 2, 3, 5
FS_V1 = (1 << 13) - 1                                               # execute ... make_sym (ABI 1)
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1                      # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1           # ABI 6

# seccomp, per architecture: the audit architecture, the socket syscall, and the syscalls
# refused outright: io_uring_setup (it could open sockets and files without the syscalls
# below) and every change of file metadata (mode, owner, times, extended attributes), which
# Landlock does not control.
_METADATA_COMMON = (425, 452, 463, 466)       # io_uring_setup, fchmodat2, setxattrat, removexattrat
SECCOMP_ARCHES = {
    "x86_64": (0xC000003E, 41, _METADATA_COMMON + (90, 91, 268, 92, 93, 94, 260, 132, 235, 261, 280,
                                                   188, 189, 190, 197, 198, 199)),
    "aarch64": (0xC00000B7, 198, _METADATA_COMMON + (52, 53, 54, 55, 88, 5, 6, 7, 14, 15, 16)),
}
X32_SYSCALL_BIT = 0x40000000
AF_UNIX = 1


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


_CapDataPair = _CapData * 2
_libc = None
_seccomp_program: _SockFprog | None = None


def libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def prepare() -> None:
    """Do once, before forking policy processes, what would otherwise cost each of them a
    fraction of a millisecond: load the C library's entry points, build the seccomp program,
    and take every ctypes path once (harmless calls), so the children inherit it all ready."""
    c = libc()
    for name in ("unshare", "prctl", "capset", "capget", "syscall"):
        getattr(c, name)
    prctl(3, 0)                                             # PR_GET_DUMPABLE
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), _CapDataPair()
    _check(c.capget(ctypes.byref(header), data), "capget")
    if seccomp_supported() is None:
        _filter_program()


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def unshare(flags: int) -> None:
    _check(libc().unshare(ctypes.c_int(flags)), "unshare")


def prctl(option: int, value: int, pointer=None) -> None:
    third = pointer if pointer is not None else ctypes.c_ulong(0)
    _check(libc().prctl(ctypes.c_int(option), ctypes.c_ulong(value), third, ctypes.c_ulong(0), ctypes.c_ulong(0)),
           "prctl")


def drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable capability sets."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    _check(libc().capset(ctypes.byref(header), _CapDataPair()), "capset")


# ------------------------------------------------------------------ Landlock
def landlock_abi() -> tuple[int | None, str | None]:
    """(the kernel's Landlock ABI version, None) or (None, why there is none)."""
    if not sys.platform.startswith("linux"):
        return None, "landlock (not Linux)"
    version = libc().syscall(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), None, ctypes.c_size_t(0),
                             ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    if version > 0:
        return int(version), None
    code = ctypes.get_errno()
    if code == errno.ENOSYS:
        return None, "landlock (this kernel has no Landlock: Linux 5.13 or later built with CONFIG_SECURITY_LANDLOCK)"
    if code == errno.EOPNOTSUPP:
        return None, "landlock (disabled at boot: add `landlock` to the kernel's lsm= parameter)"
    return None, f"landlock ({os.strerror(code)})"


def landlock_rights(abi: int) -> tuple[int, int, int, int]:
    """(handled fs rights, handled net rights, scopes, ruleset attribute size) for `abi`:
    everything that ABI can restrict."""
    fs = FS_V1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0) | (FS_IOCTL_DEV if abi >= 5 else 0)
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    return fs, net, scoped, size


def landlock_restrict(abi: int, rules: list[tuple[int, int]]) -> None:
    """Create a ruleset that handles every right of `abi` (no TCP port allowed), allow `rules`
    ((O_PATH fd, rights), rights beyond the ABI dropped), and restrict the calling thread."""
    fs, net, scoped, size = landlock_rights(abi)
    attr = _RulesetAttr(fs, net, scoped)
    call = libc().syscall
    ruleset = _check(call(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                          ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for fd, rights in rules:
            rule = _PathBeneath(rights & fs, fd)
            _check(call(ctypes.c_long(SYS_LANDLOCK_ADD_RULE), ctypes.c_int(ruleset),
                        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule), ctypes.c_uint32(0)),
                   "landlock_add_rule")
        _check(call(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)


# ------------------------------------------------------------------ seccomp
def seccomp_supported() -> str | None:
    """None if a filter exists for this machine, else why not."""
    if platform.machine() not in SECCOMP_ARCHES:
        return f"seccomp (no filter for the {platform.machine()} architecture)"
    return None


def install_filter() -> None:
    """Install the seccomp filter (needs no_new_privs): socket(AF_UNIX, ...) fails with EACCES,
    io_uring_setup and every metadata change (chmod, chown, utimes, xattrs) with EPERM,
    system calls of another ABI (x32, 32-bit compat) with ENOSYS; the rest is allowed.
    Landlock (up to ABI 7) controls neither connecting to a UNIX socket file (such as
    Docker's) nor metadata, so this is what keeps a policy from them."""
    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(_filter_program()))


def _filter_program() -> _SockFprog:
    """The BPF program (built once; see install_filter)."""
    global _seccomp_program
    if _seccomp_program is not None:
        return _seccomp_program
    arch, socket_nr, refused = SECCOMP_ARCHES[platform.machine()]
    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06          # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JGE|K, RET|K
    allow, eacces, eperm, enosys = 0x7FFF0000, 0x50000 | errno.EACCES, 0x50000 | errno.EPERM, 0x50000 | errno.ENOSYS
    # Jump targets are symbolic until the end: "allow", "eacces", "eperm", "enosys".
    program = [(load, None, None, 4), (jeq, None, "enosys", arch),          # arch (offset 4)
               (load, None, None, 0), (jge, "enosys", None, X32_SYSCALL_BIT)]  # syscall number (offset 0)
    program += [(jeq, "eperm", None, number) for number in refused]
    program += [(jeq, None, "allow", socket_nr), (load, None, None, 16),     # socket's address family
                (jeq, "eacces", "allow", AF_UNIX)]
    exits = {"allow": allow, "eacces": eacces, "eperm": eperm, "enosys": enosys}
    at = {name: len(program) + i for i, name in enumerate(exits)}
    program += [(ret, None, None, value) for value in exits.values()]
    ops = [_SockFilter(code, 0 if jt is None else at[jt] - i - 1, 0 if jf is None else at[jf] - i - 1, k)
           for i, (code, jt, jf, k) in enumerate(program)]
    _seccomp_program = _SockFprog(len(ops), (_SockFilter * len(ops))(*ops))
    return _seccomp_program
