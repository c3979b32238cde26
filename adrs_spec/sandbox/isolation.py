"""The kernel layers around a policy process, each applied in one place and each reported.

Layers, in the order `isolate` applies them in the freshly forked (single-threaded) policy
process, before any policy code exists:

1. user and network namespaces (`unshare(CLONE_NEWUSER | CLONE_NEWNET)`): the process gets
   a network stack of its own with nothing but a loopback device that is down, so no
   packet leaves it (TCP, UDP, raw); its capabilities now belong to the new namespace, so
   a caller that runs as root does not lend the policy root's powers (it cannot raise its
   resource limits, or override file permissions). Where user namespaces are refused but
   the process may create a network namespace (root), the network namespace alone.
2. no capabilities: the effective, permitted and inheritable sets are emptied.
3. `PR_SET_NO_NEW_PRIVS`: nothing it executes gains privileges (set-uid files, file
   capabilities), and it may install a seccomp filter and a Landlock domain.
4. seccomp: no UNIX socket can be created (Landlock up to ABI 7 does not control connecting
   to a socket file by its path, such as Docker's), no io_uring (which could), and no file's
   mode, owner, times or extended attributes changed (Landlock does not control metadata).
5. Landlock: read access (and execution) only to what running Python and the array library
   needs (the interpreter's prefixes, site-packages, the adrs_spec package, the folders of
   every shared library the worker has loaded, a few system files) and to the policy file
   itself; read and write access only to the candidate's scratch folders; no TCP bind or
   connect (ABI 4); no signal to, and no abstract UNIX socket of, any process outside the
   candidate's own domain (ABI 6). Landlock also denies ptrace-mode access (/proc/PID/mem,
   environ, maps) to every process outside the domain: the worker and the caller included.

The caller, which holds the hidden data, makes itself non-dumpable (`protect_caller`), so
even a process of the same user without Landlock cannot read its memory or environment
through /proc.

`probe` runs once in the worker, before it imports the array library (it forks a child
that tries every layer): what it finds available is applied to every candidate,
and what it finds missing is reported with the reason. A layer the probe found available
that then fails in a candidate is an error (IsolationFailed), never a silent downgrade.
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from dataclasses import dataclass

from adrs_spec.sandbox import syscalls
from adrs_spec.sandbox.syscalls import (CLONE_NEWNET, CLONE_NEWUSER, FS_EXECUTE, FS_IOCTL_DEV, FS_READ_DIR,
                                        FS_READ_FILE, FS_REFER, FS_TRUNCATE, FS_V1, FS_WRITE_FILE, PR_SET_DUMPABLE,
                                        PR_SET_NO_NEW_PRIVS)

READ_DIR_RIGHTS = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
ALL_RIGHTS = FS_V1 | FS_REFER | FS_TRUNCATE | FS_IOCTL_DEV     # masked by what the ABI handles
PROC_SELF_RIGHTS = READ_DIR_RIGHTS | FS_WRITE_FILE              # its own /proc entry: libraries name their threads

# Read-only besides the interpreter and its libraries: system library folders (dlopen by
# name), dynamic-linker and time-zone files, CPU and memory facts libraries size thread
# pools from. The GPU entries matter only where they exist.
SYSTEM_READABLE = ("/lib", "/lib32", "/lib64", "/usr/lib", "/usr/lib32", "/usr/lib64", "/usr/local/lib",
                   "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/usr/share/zoneinfo",
                   "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
                   "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/sys/devices/system/cpu",
                   "/sys/devices/system/node", "/sys/fs/cgroup", "/dev/urandom", "/dev/random", "/dev/zero",
                   "/usr/local/cuda", "/proc/driver/nvidia", "/sys/bus/pci", "/sys/devices/pci0000:00")
DEVICES = ("/dev/null", "/dev/nvidia*", "/dev/nvidia-caps/*")         # read, write, ioctl (CUDA)


class IsolationFailed(Exception):
    """A layer the probe found available could not be applied to a policy process."""


@dataclass(frozen=True)
class Isolation:
    """What the kernel layers around every policy process are (see the module docstring).

    landlock_abi: the Landlock ABI version applied, None if Landlock is unavailable.
    userns, netns: whether the policy process runs in its own user / network namespace.
    no_caps:      whether its capability sets are emptied.
    no_new_privs: whether PR_SET_NO_NEW_PRIVS is set.
    seccomp:      whether the seccomp filter (no UNIX sockets, no io_uring, no metadata
                  changes) is installed.
    caller_protected: whether the caller marked itself non-dumpable.
    missing:      one line per missing layer or Landlock feature, saying why.
    """

    landlock_abi: int | None
    userns: bool
    netns: bool
    no_caps: bool
    no_new_privs: bool
    seccomp: bool
    caller_protected: bool = False
    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        """One line, e.g. `landlock v7 + userns + netns + no_new_privs + no caps + seccomp +
        caller not dumpable`, then `; missing: ...` if anything is."""
        layers = [f"landlock v{self.landlock_abi}" if self.landlock_abi else None,
                  "userns" if self.userns else None, "netns" if self.netns else None,
                  "no_new_privs" if self.no_new_privs else None, "no caps" if self.no_caps else None,
                  "seccomp" if self.seccomp else None, "caller not dumpable" if self.caller_protected else None]
        text = " + ".join(layer for layer in layers if layer) or "none"
        return text + (f"; missing: {'; '.join(self.missing)}" if self.missing else "")

    def to_json(self) -> dict:
        return {"landlock_abi": self.landlock_abi, "userns": self.userns, "netns": self.netns,
                "no_caps": self.no_caps, "no_new_privs": self.no_new_privs, "seccomp": self.seccomp,
                "missing": list(self.missing)}

    @classmethod
    def from_json(cls, data: dict) -> "Isolation":
        return cls(data["landlock_abi"], data["userns"], data["netns"], data["no_caps"], data["no_new_privs"],
                   data["seccomp"], False, tuple(data["missing"]))


# ------------------------------------------------------------------ the caller
def protect_caller() -> bool:
    """Make the calling process non-dumpable: no process without CAP_SYS_PTRACE can read its
    memory or environment through /proc (and no core file holds its data). Linux only."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        syscalls.prctl(PR_SET_DUMPABLE, 0)
    except OSError:
        return False
    return True


def prepare() -> None:
    """In the worker, before it forks policy processes: make applying the layers cheap."""
    if sys.platform.startswith("linux"):
        syscalls.prepare()


# ------------------------------------------------------------------ probing
def probe() -> Isolation:
    """What can be applied here: run in the worker before it starts any thread (a forked child
    tries every layer, so the worker itself stays unrestricted)."""
    abi, landlock_missing = syscalls.landlock_abi()
    if not sys.platform.startswith("linux"):
        return Isolation(None, False, False, False, False, False, False,
                         ("landlock, namespaces, no_new_privs, seccomp (not Linux)",))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                       # the child: report how each layer went, then exit
        os.close(read)
        try:
            os.write(write, _probe_layers(abi).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    return _isolation_from_probe(abi, landlock_missing, report)


def _probe_layers(abi: int | None) -> str:
    """In the probe child: `namespaces|caps|nnp|seccomp|landlock` outcomes separated by `|`."""
    outcomes = [_try(_namespaces)]
    outcomes.append(_try(syscalls.drop_capabilities))
    outcomes.append(_try(lambda: syscalls.prctl(PR_SET_NO_NEW_PRIVS, 1)))
    outcomes.append("skipped" if syscalls.seccomp_supported() else _try(syscalls.install_filter))
    outcomes.append(_try(lambda: syscalls.landlock_restrict(abi, [])) if abi else "skipped")
    return "|".join(outcomes)


def _try(action) -> str:
    try:
        result = action()
    except OSError as error:
        return f"error:{os.strerror(error.errno)}"
    return "ok" if result is None else str(result)


def _namespaces() -> str:
    """Enter new user and network namespaces, or a network namespace alone where user
    namespaces are refused but the process may create one: `user+net`, or `net:<why the
    user namespace was refused>`."""
    try:
        syscalls.unshare(CLONE_NEWUSER | CLONE_NEWNET)
        return "user+net"
    except OSError as error:
        refused = error
    try:
        syscalls.unshare(CLONE_NEWNET)
    except OSError:
        raise refused from None
    return f"net:{os.strerror(refused.errno)}"


def _isolation_from_probe(abi: int | None, landlock_missing: str | None, report: str) -> Isolation:
    parts = (report.split("|") + ["error:no report"] * 5)[:5]
    namespaces, caps, nnp, seccomp, landlock = parts
    missing = []
    if namespaces.startswith("error:"):
        missing.append(f"user and network namespaces (unshare refused: {namespaces[6:]}; unprivileged user "
                       f"namespaces may be disabled by sysctl or AppArmor)")
    elif namespaces.startswith("net:"):
        missing.append(f"user namespace (unshare refused: {namespaces[4:]}; a network namespace alone is used)")
    if caps != "ok":
        missing.append(f"dropping capabilities ({caps[6:]})")
    if nnp != "ok":
        missing.append(f"no_new_privs ({nnp[6:]})")
    if syscalls.seccomp_supported():
        missing.append(syscalls.seccomp_supported())
    elif seccomp != "ok":
        missing.append(f"seccomp ({seccomp[6:]})")
    if landlock_missing:
        missing.append(landlock_missing)
        abi = None
    elif landlock != "ok":
        missing.append(f"landlock (restricting a process failed: {landlock[6:]})")
        abi = None
    else:
        if abi < 4:
            missing.append(f"landlock TCP rules (the kernel's Landlock ABI is v{abi}; TCP needs v4, Linux 6.7)")
        if abi < 6:
            missing.append(f"landlock signal and abstract-socket scopes (ABI v{abi}; they need v6, Linux 6.12)")
    return Isolation(abi, namespaces == "user+net", not namespaces.startswith("error:"), caps == "ok", nnp == "ok",
                     seccomp == "ok", False, tuple(missing))


# ------------------------------------------------------------------ what a policy may read
def readable_paths() -> list[str]:
    """Paths a policy process needs to read: the interpreter and its standard library, the
    site-packages folders, the adrs_spec package (not the checkout around it, which may hold
    specs and workload data), the folders of the shared libraries this process (the worker,
    after its imports) has mapped, and a few system files. Other PYTHONPATH entries are not
    included. Computed once per worker."""
    import site

    import adrs_spec

    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths = {p for p in prefixes if os.path.dirname(p) != p}          # never "/" itself
    paths.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    if site.ENABLE_USER_SITE and site.USER_SITE:
        paths.add(site.USER_SITE)
    paths.add(os.path.dirname(os.path.abspath(adrs_spec.__file__)))
    temporary = os.path.realpath(tempfile.gettempdir())
    paths.update(os.path.dirname(p) for p in _mapped_libraries()
                 if not os.path.realpath(p).startswith(temporary + os.sep))
    paths.update(SYSTEM_READABLE)
    return _outermost(os.path.realpath(p) for p in paths if os.path.exists(p))


def _outermost(paths) -> list[str]:
    """The paths that lie under no other path of the set (a rule covers everything below it)."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(path.startswith(k.rstrip(os.sep) + os.sep) for k in kept):
            kept.append(path)
    return kept


def _mapped_libraries() -> set[str]:
    """The shared libraries (`*.so*`) mapped into this process."""
    found = set()
    try:
        with open("/proc/self/maps") as handle:
            for line in handle:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].startswith("/") and ".so" in os.path.basename(fields[5]):
                    found.add(fields[5].strip())
    except OSError:
        pass
    return {p for p in found if os.path.isfile(p)}


def worker_rules() -> list[tuple[int, int]]:
    """(O_PATH descriptor, Landlock rights) of everything every candidate may use: read-only
    `readable_paths()`, read-write /dev/null and GPU devices. Opened once by the worker, so a
    candidate's ruleset costs no path lookup for them."""
    import glob

    devices = [path for pattern in DEVICES for path in sorted(glob.glob(pattern))]
    return _open_rules([(path, READ_DIR_RIGHTS) for path in readable_paths()]
                       + [(path, FS_READ_FILE | FS_WRITE_FILE | FS_IOCTL_DEV) for path in devices])


def _open_rules(wanted: list[tuple[str, int]]) -> list[tuple[int, int]]:
    """O_PATH descriptors of the paths that exist, with their rights (file rights only, for a file)."""
    rules = []
    for path, rights in wanted:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        rules.append((fd, rights if stat.S_ISDIR(os.fstat(fd).st_mode) else rights & FILE_RIGHTS))
    return rules


# ------------------------------------------------------------------ applying
def isolate(available: Isolation, rules: list[tuple[int, int]], writable: list[str], policy_file: str) -> None:
    """Apply every layer `available` lists to the calling process (a freshly forked policy
    process, single-threaded): `rules` are the worker's (`worker_rules`), `writable` the
    candidate's scratch folders, `policy_file` the file it may read."""
    try:
        if available.userns:
            syscalls.unshare(CLONE_NEWUSER | CLONE_NEWNET)
        elif available.netns:
            syscalls.unshare(CLONE_NEWNET)
        if available.no_caps:
            syscalls.drop_capabilities()
        if available.no_new_privs:
            syscalls.prctl(PR_SET_NO_NEW_PRIVS, 1)
        if available.seccomp:
            syscalls.install_filter()
        if available.landlock_abi:
            own = _open_rules([(path, ALL_RIGHTS) for path in writable]
                              + [(policy_file, FS_READ_FILE), ("/proc/self", PROC_SELF_RIGHTS)])
            try:
                syscalls.landlock_restrict(available.landlock_abi, rules + own)
            finally:
                for fd, _rights in own:
                    os.close(fd)
    except OSError as error:
        raise IsolationFailed(f"the sandbox could not isolate the policy process: {error}") from None
