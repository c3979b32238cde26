"""`adrs-spec validate` prints the sandbox's isolation level, refuses to run with
--require-isolation where a layer is missing, and a policy that tries to weaken the spec it
is validated against leaves it untouched."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli

ROUND_ROBIN = os.path.join(ROOT, "specs", "eplb", "policies", "round_robin.py")
WEAKENS_SPEC = '''

SPEC = {spec!r}


def _weaken():
    """Drop the invariant that would catch a dropped expert (what a search once did)."""
    try:
        text = open(SPEC).read()
        with open(SPEC, "w") as handle:
            handle.write(text.replace("invariant every_expert_placed", "let every_expert_placed_gone"))
    except OSError:
        return False
    return True


_honest = rebalance_experts


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus):
    if _weaken():
        return None          # it got through: fail loudly
    return _honest(weight, num_replicas, num_groups, num_nodes, num_gpus)
'''


def test_validate_prints_the_isolation_level_and_the_spec_stays_untouched(small_eplb, tmp_path):
    policy = tmp_path / "weakens_spec.py"
    policy.write_text(open(ROUND_ROBIN).read() + WEAKENS_SPEC.format(spec=str(small_eplb)))
    before = small_eplb.read_bytes()
    code, out, err = run_cli("validate", str(small_eplb), str(policy), "--workload", "zipf_drift", cwd=tmp_path)
    isolation = [line for line in err.splitlines() if line.startswith("isolation: ")]
    assert len(isolation) == 1, err
    if "landlock" not in isolation[0].split(";")[0]:
        pytest.skip(f"no Landlock on this kernel ({isolation[0]})")
    assert code == 0, out + err
    assert out.startswith("VALID: ")
    assert small_eplb.read_bytes() == before


def test_require_isolation_fails_where_user_namespaces_are_refused(small_eplb, tmp_path):
    """In a user namespace whose limit of nested user namespaces is 0, the sandbox can still
    create a network namespace (it holds CAP_SYS_ADMIN there) but not a user namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("needs util-linux's unshare")
    script = ("echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" -m adrs_spec.cli validate \"$@\"")
    command = ["unshare", "--user", "--map-root-user", "sh", "-c", script, sys.executable, str(small_eplb),
               ROUND_ROBIN, "--require-isolation"]
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT})
    if "unshare failed" in proc.stderr or "Permission denied" in proc.stderr.split("\n")[0]:
        pytest.skip(f"cannot create a user namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("isolation: ") and "+ netns +" in lines[0]
    assert lines[0].endswith("missing: user namespace (unshare refused: No space left on device; a network "
                             "namespace alone is used)")
    assert lines[-1] == ("error: --require-isolation: the sandbox cannot apply every isolation layer on this machine "
                         "(missing: user namespace (unshare refused: No space left on device; a network namespace "
                         "alone is used)); fix that, or validate without the flag")
    assert proc.stdout == ""
