"""The caller's side of one policy process: its scratch directory, its socket, requests with
deadlines, killing it on timeout, and cleaning up after it.

Scratch layout (removed afterwards): work/ (the working directory; must stay empty),
home/ (HOME), tmp/ (TMPDIR), output.log (what the policy printed), stack.txt (where a
timed-out call was stuck).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time

from adrs_spec.sandbox import processes, shared
from adrs_spec.sandbox.failures import stack_from_dump, tail_of_file
from adrs_spec.sandbox.limits import SandboxLimits
from adrs_spec.sandbox.protocol import ChannelClosed, ChannelTimeout, ProtocolError, recv_message, send_message
from adrs_spec.sandbox.records import OutputSpec
from adrs_spec.sandbox.worker import Worker, WorkerDied

STACK_DUMP_WAIT_S = 0.5        # at most, for the dump of a timed-out process
MAX_FILES_LISTED = 8


class ChildGone(Exception):
    """The policy process closed its socket (it died) before answering."""


class Tampered(Exception):
    """The policy process sent something that is not a valid message."""


class CallTimedOut(Exception):
    """The policy process did not answer within the time limit."""


class CandidateProcess:
    """One policy process as the caller sees it: spawned by the worker in a fresh scratch
    directory, with its socket and its shared output area."""

    def __init__(self, worker: Worker, sandbox_root: str, policy: str, limits: SandboxLimits,
                 outputs: list[OutputSpec]):
        self.worker, self.limits, self.outputs = worker, limits, outputs
        self.root = tempfile.mkdtemp(prefix="candidate-", dir=sandbox_root)
        for name in ("work", "home", "tmp"):
            os.mkdir(os.path.join(self.root, name))
        self.offsets, size = shared.layout(outputs)
        area_fd = shared.create_area(size)
        self.area = shared.map_area(area_fd, size) if area_fd is not None else None
        self.channel, theirs = socket.socketpair()
        fds = [theirs.fileno()] + ([area_fd] if area_fd is not None else [])
        try:
            self.pid = worker.spawn(self.root, policy, limits, fds, size)
        finally:
            theirs.close()
            if area_fd is not None:
                os.close(area_fd)
        self.reaped: dict | None = None

    def copy_shared_outputs(self, into: list) -> None:
        """Copy the outputs the process wrote to the shared area into `into` (one array per output)."""
        shared.read_values(self.area, self.offsets, self.outputs, into)

    # ------------------------------------------------------------ messages
    def send(self, message: dict) -> None:
        try:
            self.channel.settimeout(self.limits.timeout_s)
            send_message(self.channel, message)
        except socket.timeout:
            raise CallTimedOut() from None
        except OSError:
            raise ChildGone() from None

    def receive(self, expected: tuple[str, ...], timeout_s: float | None = None, max_bytes: int = 1 << 20) -> dict:
        """The next message, which must be a dict whose op is in `expected` or "failure"."""
        deadline = time.monotonic() + (self.limits.timeout_s if timeout_s is None else timeout_s)
        try:
            message = recv_message(self.channel, deadline, max_bytes)
        except ChannelTimeout:
            raise CallTimedOut() from None
        except ChannelClosed:
            raise ChildGone() from None
        except ProtocolError as error:
            raise Tampered(str(error)) from None
        if not isinstance(message, dict) or message.get("op") not in (*expected, "failure"):
            raise Tampered(f"unexpected message {str(message)[:80]!r}")
        return message

    # ------------------------------------------------------------ ending
    def stop_stuck(self) -> str | None:
        """Ask the process where it is stuck (a faulthandler dump), then kill its group."""
        stack_path = os.path.join(self.root, "stack.txt")
        try:
            os.kill(self.pid, signal.SIGUSR2)
            deadline = time.monotonic() + STACK_DUMP_WAIT_S
            while time.monotonic() < deadline and not os.path.getsize(stack_path):
                time.sleep(0.005)
            time.sleep(0.005)          # let the dump finish: it is written in one go, frame by frame
        except (ProcessLookupError, OSError):
            pass
        processes.kill_group(self.pid)
        try:
            with open(stack_path) as handle:
                return handle.read()
        except OSError:
            return None

    def finish(self) -> dict:
        """Kill and reap the process and everything it started; its exit status."""
        self.channel.close()
        if self.area is not None:
            self.area.close()
        try:
            self.reaped = self.worker.reap(self.pid)
        except WorkerDied:
            processes.kill_group(self.pid)    # the worker is gone; its group is what we can reach
            self.reaped = {"exit_code": None, "signal": None, "killed": [], "survivors": [], "worker_died": True}
        return self.reaped

    def printed_tail(self) -> str | None:
        return tail_of_file(os.path.join(self.root, "output.log"))

    def stuck_at(self, dump: str | None, path: str, display: str) -> str | None:
        return stack_from_dump(dump, path, display) if dump else None

    def written_files(self) -> list[str]:
        """Paths (relative, directories with a trailing /) the policy created in work/."""
        work = os.path.join(self.root, "work")
        found = []
        for folder, dirs, files in os.walk(work):
            relative = os.path.relpath(folder, work)
            for name in sorted(dirs):
                found.append(os.path.normpath(os.path.join(relative, name)) + "/")
            for name in sorted(files):
                found.append(os.path.normpath(os.path.join(relative, name)))
        return sorted(found)

    def remove(self) -> None:
        if sys.version_info >= (3, 12):
            shutil.rmtree(self.root, onexc=_make_writable_and_retry)
        else:
            shutil.rmtree(self.root, onerror=_make_writable_and_retry)


def describe_files(files: list[str]) -> str:
    shown = ", ".join(files[:MAX_FILES_LISTED])
    more = len(files) - MAX_FILES_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _make_writable_and_retry(function, path, _error) -> None:
    """rmtree's error hook: a policy may leave read-only files or directories behind."""
    try:
        os.chmod(os.path.dirname(path), stat.S_IRWXU)
        os.chmod(path, stat.S_IRWXU)
        function(path)
    except OSError:
        pass
