"""Run untrusted policy code: each candidate in its own process, with limits, and its
runtime measured so that it cannot be faked cheaply.

    with Sandbox(array="torch", limits=SandboxLimits(timeout_s=10, memory_bytes=4 << 30)) as sandbox:
        run = sandbox.run_policy(path="policy.py", function="rebalance_experts",
                                 calls=[(weight, 288, 8, 4, 32)],
                                 outputs=[OutputSpec("phy2log", "int", (58, 288)), ...])
        run.ok, run.outputs[0], run.times_s[0], run.failure

Processes. A worker (zygote.py) is started once per Sandbox with `python -c`, never forked
from the caller, so it holds no workload, holdout data or seed. It imports numpy and the
requested array library, makes itself a child subreaper, and forks one policy process per
candidate (`run_policy` call). The policy process calls setsid (its own process group),
gets SIGKILL if the worker dies, sets its limits, and serves requests on its own socket:
it receives only the arguments of its calls. After a candidate, its process group is
killed and every remaining descendant of the worker (double-forked orphans included, via
the subreaper) is stopped and killed until none is left; a policy that leaves processes
running loses nothing but them. A crashed worker is replaced on the next run. Cold mode
(`warm=False`) starts a fresh worker per candidate instead.

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

Measurement: see timing.py (two clocks, warm-up, repeats on fresh and shifted inputs,
median) and perturb.py. Outputs: see convert.py (conversion to numpy, shape and dtype
rules; integral float arrays are accepted for int outputs and cast).

What this does not do: it is process-level isolation for honest mistakes and cheap
cheating, not a security boundary. The policy runs as the caller's user: it can read
files the user can read (including other processes' /proc/PID/environ, so the caller's
own secrets are one `open` away for a determined attacker), write anywhere the user can
write, use the network, signal the caller's other processes (killing the worker breaks
the sweep of its double-forked grandchildren), and, with ctypes, rewrite the sandbox code
running in its own process. Run as root, it can also lift its own resource limits. A
fork bomb is only stopped by the sweep after its candidate. Containing all that needs OS
isolation: a container or VM, a separate unprivileged user, seccomp, network namespaces.
"""
from adrs_spec.sandbox.limits import SandboxLimits
from adrs_spec.sandbox.records import Failure, OutputSpec, PolicyRun
from adrs_spec.sandbox.runner import Sandbox

__all__ = ["Sandbox", "SandboxLimits", "OutputSpec", "Failure", "PolicyRun"]
