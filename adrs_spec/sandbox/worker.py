"""The caller's handle on a sandbox worker process (zygote.py): start it with a scrubbed
environment, ask it to spawn and reap policy processes, stop it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import adrs_spec
from adrs_spec.errors import InputError
from adrs_spec.sandbox.failures import tail_of_file
from adrs_spec.sandbox.isolation import Isolation
from adrs_spec.sandbox.limits import SandboxLimits, scrubbed_environment
from adrs_spec.sandbox.zygote import recv_control, send_control

STARTUP_TIMEOUT_S = 300.0      # importing torch or jax on a cold disk can be slow
CONTROL_TIMEOUT_S = 60.0
BOOT = "import sys; from adrs_spec.sandbox.zygote import main; main(int(sys.argv[1]), sys.argv[2])"


class WorkerDied(Exception):
    """The worker process is gone or stopped answering."""


def worker_environment() -> dict[str, str]:
    """The scrubbed environment, plus what the interpreter needs to find its packages (the real
    HOME, for user site-packages; the policy process gets a scratch HOME instead)."""
    env = scrubbed_environment()
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(adrs_spec.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    if "HOME" in os.environ:
        env["HOME"] = os.environ["HOME"]
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


class Worker:
    """One running worker: `spawn` a policy process for a candidate, `reap` it, `stop`."""

    def __init__(self, array: str, root: str):
        self.array = array
        self.log_path = os.path.join(root, f"worker-{time.monotonic_ns()}.log")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", BOOT, str(theirs.fileno()), array], pass_fds=[theirs.fileno()],
                env=worker_environment(), cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        theirs.close()
        self.control = ours
        try:
            ready = self._receive("ready", STARTUP_TIMEOUT_S)
        except WorkerDied as error:
            self.stop()
            raise InputError(f"the sandbox could not start a Python process with {array}: {error}; "
                             f"install {array} in this environment or choose another array library") from None
        self.pid: int = ready["pid"]
        self.baseline_vm_bytes: int = ready["vm_bytes"]
        self.isolation = Isolation.from_json(ready["isolation"])

    def alive(self) -> bool:
        return self.process.poll() is None

    def spawn(self, root: str, policy: str, limits: SandboxLimits, fds: list[int], area_size: int) -> int:
        """Fork a policy process under `limits`, in `root`, allowed to read the file `policy`,
        that serves the socket fds[0] and writes outputs to the shared area fds[1] (of
        `area_size` bytes) if there is one."""
        message = {"op": "spawn", "root": root, "policy": policy, "area_size": area_size, "limits": {
            "timeout_s": limits.timeout_s, "memory_bytes": limits.memory_bytes, "file_bytes": limits.file_bytes}}
        self._send(message, fds)
        return self._receive("spawned", CONTROL_TIMEOUT_S)["pid"]

    def reap(self, pid: int) -> dict:
        """Kill the policy process's group and every other descendant; its exit status and
        the pids killed besides it."""
        self._send({"op": "reap", "pid": pid})
        return self._receive("reaped", CONTROL_TIMEOUT_S)

    def stop(self) -> None:
        """Ask the worker to kill its descendants and exit; kill it if it does not."""
        try:
            self._send({"op": "exit"})
            self.process.wait(timeout=10)
        except (WorkerDied, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            self.control.close()

    def _send(self, message: dict, fds: list[int] = ()) -> None:
        try:
            self.control.settimeout(CONTROL_TIMEOUT_S)
            send_control(self.control, message, fds)
        except OSError as error:
            raise WorkerDied(f"cannot reach the sandbox worker ({error})") from None

    def _receive(self, op: str, timeout_s: float) -> dict:
        try:
            self.control.settimeout(timeout_s)
            message, _fds = recv_control(self.control)
        except OSError as error:
            raise WorkerDied(f"the sandbox worker did not answer ({error})") from None
        if message is None or message.get("op") != op:
            self.process.poll()
            tail = tail_of_file(self.log_path)
            raise WorkerDied(f"the sandbox worker exited ({self.process.returncode})"
                             + (f"; it printed:\n{tail}" if tail else ""))
        return message
