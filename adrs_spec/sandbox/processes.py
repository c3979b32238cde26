"""Process-tree bookkeeping on Linux: subreaper and parent-death signal via prctl, listing a
process's descendants from /proc, and killing them all.

Why a subreaper: a policy that double-forks (fork, setsid, fork, parent exits) leaves a
grandchild that is normally re-parented to init, out of our sight. With
PR_SET_CHILD_SUBREAPER set on the sandbox worker, such orphans are re-parented to the worker
instead, so walking the worker's descendants finds them and they can be killed.
"""
from __future__ import annotations

import os
import signal
import sys
import time

from adrs_spec.sandbox import syscalls

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
KILL_PASSES = 200          # a fork bomb may need several passes; each pass freezes then kills


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        syscalls.prctl(option, value)
    except OSError:
        return False
    return True


def become_subreaper() -> bool:
    """Orphaned descendants of the calling process get re-parented to it (Linux only)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Receive `sig` when the parent (the thread that forked us) dies (Linux only)."""
    return _prctl(PR_SET_PDEATHSIG, int(sig))


def _stat_fields(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()   # the command name may hold spaces and parens
    return fields[0], int(fields[1])


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    if not os.path.isdir("/proc"):
        return children                # no procfs (not Linux): nothing can be found this way
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(fields[1], []).append(int(entry))
    return children


def descendants(pid: int, include_zombies: bool = False) -> list[int]:
    """Every process below `pid` in the process tree (live ones only, unless asked)."""
    children = _children_map()
    found, stack = [], list(children.get(pid, []))
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(children.get(child, []))
    if include_zombies:
        return found
    return [p for p in found if (_stat_fields(p) or ("Z",))[0] != "Z"]


def reap_children() -> bool:
    """Collect every exited child of the calling process; whether any child is left."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def kill_descendants(pid: int) -> tuple[set[int], list[int]]:
    """SIGKILL every descendant of `pid` (the calling process) until none is left.

    When the calling process is a subreaper, every orphan below it is re-parented to it, so
    having no child at all (one waitpid call) means having no descendant: the common case
    costs no /proc scan.

    Returns (the pids killed, the pids still alive after every pass: empty unless something
    forks faster than it can be stopped). Each pass stops the processes first, so a process
    cannot fork between being listed and being killed, and passes go on until not even a
    zombie is left (a dead process whose pid could still be signalled).
    """
    killed: set[int] = set()
    for attempt in range(KILL_PASSES):
        if not reap_children() and pid == os.getpid():
            return killed, []          # no child at all: then no descendant either
        below = descendants(pid, include_zombies=True)
        if not below:
            return killed, []
        alive = [p for p in below if (_stat_fields(p) or ("Z",))[0] != "Z"]
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for target in alive:
                try:
                    os.kill(target, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        killed.update(alive)
        time.sleep(0.001 * min(attempt + 1, 20))
    reap_children()
    return killed, descendants(pid)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def describe_status(status: int) -> tuple[int | None, int | None]:
    """(exit code, signal number) of a wait status."""
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), None
    return None, None
