"""Run untrusted policy code: each candidate in its own isolated process, with limits, and its
runtime measured so that it cannot be faked cheaply.

    with Sandbox(array="torch", limits=SandboxLimits(timeout_s=10, memory_bytes=4 << 30)) as sandbox:
        run = sandbox.run_policy(path="policy.py", function="rebalance_experts",
                                 calls=[(weight, 288, 8, 4, 32)],
                                 outputs=[OutputSpec("phy2log", "int", (58, 288)), ...])
        run.ok, run.outputs[0], run.times_s[0], run.failure

Processes. A worker (zygote.py) is started once per Sandbox with `python -c`, never forked
from the caller, so it holds no workload, holdout data or seed. It probes which kernel
isolation layers this machine offers, imports numpy and the requested array library, makes
itself a child subreaper, and forks one policy process per candidate and timed pass. The
policy process calls setsid (its own process group), gets SIGKILL if the worker dies, sets
its limits, applies the isolation layers, and serves requests on its own socket: it
receives only the arguments of its calls. After a candidate, its process group is killed
and every remaining descendant of the worker (double-forked orphans included, via the
subreaper) is stopped and killed until none is left; a policy that leaves processes
running loses nothing but them. A crashed worker is replaced on the next run. Cold mode
(`warm=False`) starts a fresh worker per candidate instead.

Isolation (isolation.py, reported as `Sandbox.isolation`, e.g. `landlock v7 + userns +
netns + no_new_privs + no caps + seccomp + caller not dumpable`): the policy process runs in
new user and network namespaces (no network at all; a caller running as root lends it no
root powers), with no capabilities, no_new_privs, a seccomp filter (no UNIX sockets), and a
Landlock domain: it reads only the interpreter, its packages and libraries and the policy
file, writes only in its scratch folders, binds and connects no TCP port, and can neither
signal nor ptrace any process outside its domain (so /proc/PID/mem and environ of the
worker and the caller are closed to it). The caller makes itself non-dumpable. A layer the
kernel does not offer is reported as missing, with the reason; one it offers but that fails
for a candidate fails that candidate (kind `isolation`), never silently.

Limits (SandboxLimits): a wall-clock timeout per call (loading counts as one) that kills
the process group, RLIMIT_AS for memory (a 50 GB allocation fails cleanly as "memory"),
RLIMIT_FSIZE for files, no core files.

Environment: only a whitelist of variables (PATH, locale, thread counts, JAX/CUDA device
selection), never one whose name contains KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL, AUTH;
HOME and TMPDIR point into the candidate's scratch directory; bytecode is not written.

Files: the working directory is an empty scratch directory. If the policy leaves anything
in it, the run fails with kind "forbidden" (the message lists the files): a policy is a
function of its inputs, and a file is how it would try to keep state between runs. HOME
and TMPDIR are separate scratch directories where libraries may keep caches; all three are
deleted after the candidate, so nothing persists through them.

Printed output goes to a file in the scratch directory (no pipe to fill); its last lines
are added to a failure's detail, with the policy's own traceback frames, and for a
timeout the policy lines of a stack dump taken just before the kill.

Transport (protocol.py, shared.py): requests and replies are a JSON header plus raw array
bytes over a socket, never pickles (unpickling what a policy process sends would run its
code in the caller); a call's outputs come back through a sealed shared-memory area sized
for the declared outputs, copied out by the caller as soon as the call is done.

Measurement: see timing.py (two clocks; every timed execution is one real call, once per
process, in an order a seed may shuffle; an untimed warm-up on other content). Outputs: see
convert.py (containers read through their built-in types, conversion to numpy, shape and
dtype rules, int64 range; integral float arrays are accepted for int outputs and cast).

What this does not do: without Landlock (Linux before 5.13, or disabled) the policy can
read and write every file the user can; without user namespaces, it keeps the caller's user
id (its capabilities are still dropped where the kernel allows). Even with every layer, it
may change permission bits and timestamps of files the user owns (Landlock does not cover
metadata), read system libraries and a few system files, use all the CPU and memory its
limits allow within its timeout, and keep state between the calls of one candidate (they
share its process; with a shuffled order it sees later calls before earlier ones, see
`Sandbox.run_policy`). A fork bomb is only stopped by the sweep after its candidate. For
untrusted code on a machine without these layers, use a container or VM as well.
"""
from adrs_spec.sandbox.limits import SandboxLimits
from adrs_spec.sandbox.records import Failure, OutputSpec, PolicyRun
from adrs_spec.sandbox.runner import Sandbox

__all__ = ["Sandbox", "SandboxLimits", "OutputSpec", "Failure", "PolicyRun"]
