"""The kernel layers hold against policies that try to get out: each attempt fails with the
exact error, what it aimed at is untouched, and the caller and the worker live on.

A test needs the layer it checks (Sandbox.isolation says which this kernel offers) and is
skipped, with the reason, where it is missing. Each hostile policy reports the errno of
every attempt in its outputs; `control` runs the same function in this process, unsandboxed,
to show that the attempt itself is real (it works there)."""
import ctypes
import errno
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from adrs_spec.sandbox import Sandbox, SandboxLimits
from sandbox_cases import OUTPUTS, ROOT, WEIGHTS, descendants, load_module, policy

LIMITS = SandboxLimits(timeout_s=10.0, memory_bytes=2 << 30)
PR_GET_DUMPABLE = 3


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(array="numpy", limits=LIMITS) as box:
        yield box


@pytest.fixture(autouse=True)
def nothing_left_behind(sandbox):
    yield
    assert descendants() <= {sandbox.worker_pid}


def needs(sandbox, landlock: int = 0, netns: bool = False) -> None:
    layers = sandbox.isolation
    if landlock and (layers.landlock_abi or 0) < landlock:
        pytest.skip(f"needs Landlock ABI {landlock}; this kernel: {layers.describe()}")
    if netns and not layers.netns:
        pytest.skip(f"needs a network namespace; this kernel: {layers.describe()}")


def run(sandbox, name, *extra, path=None):
    """Run a hostile policy on one call, (weight, 6, *extra); its report (phy2log) flattened."""
    result = sandbox.run_policy(path=path or policy(name), function="place", calls=[(WEIGHTS[0], 6, *extra)],
                                outputs=OUTPUTS)
    assert result.ok, result.failure
    return [int(v) for v in result.outputs[0][0].ravel()]


def control(name, *extra, path=None):
    """The same policy called in this process, unsandboxed: its report."""
    function = load_module(path or policy(name)).place
    return [int(v) for v in np.asarray(function(WEIGHTS[0].copy(), 6, *extra)[0]).ravel()]


# ---------------------------------------------------------------- what is reported
def test_the_caller_is_not_dumpable_and_the_level_is_reported(sandbox):
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    layers = sandbox.isolation
    assert layers.caller_protected
    assert layers.describe().endswith("caller not dumpable") or "missing:" in layers.describe()


# ---------------------------------------------------------------- hidden data
def test_the_callers_memory_and_environment_cannot_be_read(sandbox):
    needs(sandbox, landlock=1)
    marker = np.array([0x5EC12E7DA7A], np.int64)          # stands for the hidden `next` window
    address = marker.ctypes.data
    assert control("reads_caller.py", os.getpid(), address)[:4] == [0, 0, 0, 0]
    assert control("reads_caller.py", os.getpid(), address)[6] == marker[0]      # unsandboxed, it is read
    report = run(sandbox, "reads_caller.py", os.getpid(), address)
    assert report[:4] == [errno.EACCES, errno.EACCES, errno.EACCES, errno.EPERM]  # environ, mem, maps, vm_readv
    assert report[6] == 0


def test_the_workers_memory_cannot_be_read_either(sandbox):
    needs(sandbox, landlock=1)
    report = run(sandbox, "reads_caller.py", sandbox.worker_pid, 4096)
    assert report[:4] == [errno.EACCES, errno.EACCES, errno.EACCES, errno.EPERM]


# ---------------------------------------------------------------- files
def spec_copy(folder) -> str:
    target = os.path.join(folder, "eplb.adrs")
    shutil.copy(os.path.join(ROOT, "specs", "eplb.adrs"), target)
    return target


# read, append, truncate: Landlock; chmod, utime: seccomp; delete, rename, create, mkdir,
# symlink, link: Landlock
ALL_DENIED = [errno.EACCES] * 3 + [errno.EPERM] * 2 + [errno.EACCES] * 6


def needs_files(sandbox):
    needs(sandbox, landlock=1)
    if not sandbox.isolation.seccomp:
        pytest.skip(f"needs the seccomp filter; here: {sandbox.isolation.describe()}")


def snapshot(path) -> tuple:
    status = os.stat(path)
    return open(path, "rb").read(), status.st_mode, status.st_mtime_ns


def test_files_outside_the_scratch_folder_are_untouched(sandbox, tmp_path):
    needs_files(sandbox)
    target = spec_copy(tmp_path)
    before = snapshot(target)
    report = run(sandbox, "touches_files.py", target)
    assert report[:11] == ALL_DENIED
    assert snapshot(target) == before
    assert sorted(os.listdir(tmp_path)) == ["eplb.adrs"]


def test_the_same_attempts_unsandboxed_do_change_the_folder(tmp_path):
    target = spec_copy(tmp_path)
    report = control("touches_files.py", target)
    assert report[:11] == [0] * 6 + [errno.ENOENT, 0, 0, 0, errno.ENOENT]     # rename and link: after the delete
    assert sorted(os.listdir(tmp_path)) == ["link", "planted", "planted.py"]


def test_the_policy_file_itself_is_readable_and_read_only(sandbox, tmp_path):
    needs_files(sandbox)
    own = os.path.join(tmp_path, "touches_files.py")
    shutil.copy(policy("touches_files.py"), own)
    before = snapshot(own)
    report = run(sandbox, "touches_files.py", own, path=own)
    assert report[:11] == [0] + ALL_DENIED[1:]
    assert snapshot(own) == before
    assert sorted(os.listdir(tmp_path)) == ["touches_files.py"]


# ---------------------------------------------------------------- network
@pytest.fixture
def listeners(tmp_path):
    """A TCP listener and a UDP socket on 127.0.0.1, an abstract UNIX socket and a UNIX socket
    file, all non-blocking: (tcp, udp, abstract, unix file, the abstract name, the file's path)."""
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    name, path = f"adrs-sandbox-test-{os.getpid()}", str(tmp_path / "service.sock")
    abstract, unix_file = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
    abstract.bind("\0" + name)
    unix_file.bind(path)
    for sock in (tcp, udp, abstract, unix_file):
        if sock is not udp and sock is not tcp:
            sock.listen()
        sock.setblocking(False)
    yield tcp, udp, abstract, unix_file, name, path
    for sock in (tcp, udp, abstract, unix_file):
        sock.close()


def arguments(tcp, udp, abstract, unix_file, name, path):
    return tcp.getsockname()[1], udp.getsockname()[1], name, path


def test_no_network_reaches_out(sandbox, listeners):
    needs(sandbox, landlock=6, netns=True)
    if not sandbox.isolation.seccomp:
        pytest.skip(f"needs the seccomp filter; here: {sandbox.isolation.describe()}")
    tcp, udp, abstract, unix_file, _, _ = listeners
    report = run(sandbox, "uses_network.py", *arguments(*listeners))
    tcp_connect, tcp_bind, listen, udp_send, abstract_connect, file_connect = report[:6]
    # TCP: Landlock; UDP: a network namespace whose loopback is down; UNIX sockets: the
    # seccomp filter refuses to create one
    assert (tcp_connect, tcp_bind, udp_send) == (errno.EACCES, errno.EACCES, errno.ENETUNREACH)
    assert (abstract_connect, file_connect) == (errno.EACCES, errno.EACCES)
    assert listen == 0                     # an ephemeral port in its own network namespace: nobody can reach it
    for sock in (tcp, abstract, unix_file):
        with pytest.raises(BlockingIOError):
            sock.accept()
    with pytest.raises(BlockingIOError):
        udp.recv(100)
    port = report[6]
    if port != tcp.getsockname()[1]:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_the_same_attempts_unsandboxed_do_connect(listeners):
    report = control("uses_network.py", *arguments(*listeners))
    assert report[:6] == [0, 0, 0, 0, 0, 0]
    assert listeners[1].recv(100) == b"hidden data, please"


# ---------------------------------------------------------------- signals and privileges
def test_signals_to_the_caller_and_the_worker_fail_and_both_live_on(sandbox):
    needs(sandbox, landlock=6)
    worker = sandbox.worker_pid
    report = run(sandbox, "sends_signals.py", os.getpid())
    # kill(caller, 0 / SIGSTOP / SIGKILL), kill(worker, 0 / SIGKILL), raising RLIMIT_AS
    assert report[:6] == [errno.EPERM] * 5 + [1]
    assert sandbox.worker_pid == worker
    with open(f"/proc/{os.getpid()}/stat") as handle:
        assert handle.read().rsplit(")", 1)[1].split()[0] in "RS"       # running, not stopped


# ---------------------------------------------------------------- a layer that fails
def test_a_layer_that_cannot_be_applied_is_an_error_not_a_downgrade(tmp_path):
    """Without CAP_SYS_ADMIN and without a user namespace, a network namespace is refused:
    `isolate` raises IsolationFailed (the sandbox then fails the candidate, kind `isolation`).
    In a fresh interpreter, so this process keeps its capabilities."""
    script = """if True:
        import sys
        from adrs_spec.sandbox import isolation, syscalls
        claims = isolation.Isolation(None, userns=False, netns=True, no_caps=False, no_new_privs=False,
                                     seccomp=False)
        syscalls.drop_capabilities()
        try:
            isolation.isolate(claims, [], [sys.argv[1]], sys.argv[1])
            print("applied")
        except isolation.IsolationFailed as error:
            print(error)
    """
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.stdout == ("the sandbox could not isolate the policy process: [Errno 1] unshare: "
                           "Operation not permitted\n"), proc.stderr


def test_cold_mode_reports_the_same_layers_and_leaves_no_process(sandbox):
    before = descendants()
    with Sandbox(array="numpy", limits=LIMITS, warm=False) as cold:
        assert cold.isolation == sandbox.isolation
        assert cold.worker_pid is None
    assert descendants() == before
