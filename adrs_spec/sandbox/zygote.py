"""The sandbox worker ("zygote"): a fresh interpreter that imports numpy and the requested array
library once, then forks one policy process per candidate, and kills and reaps everything
that candidate started.

It never holds workload data: it is started with `python -c`, not forked from the caller,
and a policy process receives nothing but the arguments of its calls over its own socket.

Control messages (JSON over a SOCK_SEQPACKET socket, one message per packet):
  <- ready    {pid, vm_bytes, isolation}            once the imports are done (isolation.py)
  -> spawn    {root, policy, limits, area_size}  + the candidate's socket and output area (SCM_RIGHTS)
  <- spawned  {pid}
  -> reap     {pid}           kill the candidate's process group and every other descendant
  <- reaped   {exit_code, signal, killed, survivors}
  -> exit                     (or EOF: the caller is gone) kill everything and exit
"""
from __future__ import annotations

import faulthandler
import gc
import importlib
import json
import os
import signal
import socket
import sys
import tempfile
import traceback

from adrs_spec.sandbox import isolation, processes
from adrs_spec.sandbox.limits import SandboxLimits, apply_limits, candidate_environment
from adrs_spec.sandbox.shared import map_area

PACKET_BYTES = 1 << 16
PRELOAD = {"numpy": ("numpy",), "torch": ("numpy", "torch"), "jax": ("numpy", "jax", "jax.numpy")}


def send_control(sock: socket.socket, message: dict, fds: list[int] = ()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def recv_control(sock: socket.socket) -> tuple[dict | None, list[int]]:
    """The next control message and the descriptors attached to it; (None, []) at EOF."""
    data, fds, _flags, _addr = socket.recv_fds(sock, PACKET_BYTES, 4)
    if not data:
        return None, fds
    return json.loads(data), fds


def virtual_memory_bytes() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


class Layers:
    """What this worker applies to every policy process: the layers the probe found, and the
    Landlock rules every candidate shares (opened once, after the imports)."""

    def __init__(self, available: isolation.Isolation):
        self.available = available
        self.rules = isolation.worker_rules() if available.landlock_abi else []
        isolation.prepare()


def main(control_fd: int, array: str) -> None:
    processes.become_subreaper()
    available = isolation.probe()          # a fork before the big imports is cheap
    for name in PRELOAD[array]:
        importlib.import_module(name)
    from adrs_spec.sandbox import child  # noqa: F401  (loaded before any fork)

    layers = Layers(available)
    control = socket.socket(fileno=control_fd)
    send_control(control, {"op": "ready", "pid": os.getpid(), "vm_bytes": virtual_memory_bytes(),
                           "isolation": available.to_json()})
    while True:
        message, fds = recv_control(control)
        if message is None or message["op"] == "exit":
            processes.kill_descendants(os.getpid())
            return
        if message["op"] == "spawn":
            pid = spawn(control, fds, message, array, layers)
            send_control(control, {"op": "spawned", "pid": pid})
        elif message["op"] == "reap":
            send_control(control, {"op": "reaped", **reap(message["pid"])})


def spawn(control: socket.socket, fds: list[int], message: dict, array: str, layers: Layers) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()            # the child's collector then leaves the inherited heap alone: fewer copy-on-write faults
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            control.close()
            run_candidate(zygote, fds, message, array, layers)
        except BaseException:
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(70)
        sys.stdout.flush()
        os._exit(0)
    for fd in fds:
        os.close(fd)
    return pid


def run_candidate(zygote: int, fds: list[int], message: dict, array: str, layers: Layers) -> None:
    """In the forked child: isolate it, then serve the candidate's requests."""
    os.setsid()                        # own process group: killpg reaches whatever it forks
    processes.die_with_parent()
    if os.getppid() != zygote:         # the worker died between fork and prctl
        os._exit(1)
    root = message["root"]
    limits = SandboxLimits(**message["limits"])
    log = os.open(os.path.join(root, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)
    stack_file = open(os.path.join(root, "stack.txt"), "w")
    faulthandler.register(signal.SIGUSR2, file=stack_file, all_threads=True)
    os.chdir(os.path.join(root, "work"))
    os.environ.clear()
    os.environ.update(candidate_environment(os.path.join(root, "home"), os.path.join(root, "tmp")))
    tempfile.tempdir = None
    sys.dont_write_bytecode = True
    area = None
    if len(fds) > 1:
        area = map_area(fds[1], message["area_size"])
        os.close(fds[1])
    apply_limits(limits)
    from adrs_spec.sandbox.child import PolicyProcess

    process = PolicyProcess(socket.socket(fileno=fds[0]), array, limits.memory_bytes, area)
    try:
        isolation.isolate(layers.available, layers.rules, [os.path.join(root, n) for n in ("work", "home", "tmp")],
                          message["policy"])
    except isolation.IsolationFailed as error:
        return process.refuse("isolation", str(error))
    for fd, _rights in layers.rules:
        os.close(fd)
    processes.die_with_parent()        # again, now that the credentials changed (it is kept, but be sure)
    if os.getppid() != zygote:
        os._exit(1)
    process.serve()


def reap(pid: int) -> dict:
    processes.kill_group(pid)
    try:
        _, status = os.waitpid(pid, 0)
        exit_code, sig = processes.describe_status(status)
    except ChildProcessError:
        exit_code, sig = None, None
    killed, survivors = processes.kill_descendants(os.getpid())
    return {"exit_code": exit_code, "signal": sig, "killed": sorted(killed), "survivors": survivors}


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
