"""Resource limits and the scrubbed environment of a sandboxed policy process."""
from __future__ import annotations

import os
import resource
from dataclasses import dataclass

# Variables a policy process may see, when the caller has them set. Everything else is
# dropped; HOME and the temporary-directory variables are pointed into the candidate's
# scratch directory.
ENV_WHITELIST = (
    "PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "TZ", "LD_LIBRARY_PATH",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS",
    "JAX_PLATFORMS", "JAX_PLATFORM_NAME", "JAX_ENABLE_X64", "XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE",
    "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
)
# A whitelisted name is still dropped when it contains one of these (say a `PATH_TOKEN`).
SECRET_MARKERS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE")
MIN_MEMORY_BYTES = 64 << 20     # below this not even the interpreter starts


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one policy process.

    timeout_s:    wall-clock seconds one policy call may take (loading the file counts as one
                  call); the whole process group is killed when it is exceeded.
    memory_bytes: address-space limit (RLIMIT_AS) of the policy process, None for none. It
                  counts address space, not resident memory: what the array library maps
                  (measured on CPU: numpy 0.15 GiB; torch 0.6 GiB at import, 0.9 GiB after a
                  call; jax 0.4 GiB at import, 1.5 GiB once its backend runs; thread stacks
                  add 8 MiB per thread), so keep a few GiB above that. CUDA reserves far more
                  address space than it uses: with a GPU, pass None.
    file_bytes:   the largest file the policy process may write (RLIMIT_FSIZE), its captured
                  printed output included; a policy that writes more is killed by SIGXFSZ.
    """

    timeout_s: float = 60.0
    memory_bytes: int | None = 8 << 30
    file_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, not {self.timeout_s}")
        if self.memory_bytes is not None and self.memory_bytes < MIN_MEMORY_BYTES:
            raise ValueError(f"memory_bytes must be at least {format_bytes(MIN_MEMORY_BYTES)}, not {self.memory_bytes}")


def is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(marker in upper for marker in SECRET_MARKERS)


def scrubbed_environment(source: dict[str, str] | None = None) -> dict[str, str]:
    """The whitelisted, secret-free subset of `source` (default: this process's environment)."""
    source = dict(os.environ) if source is None else source
    return {k: v for k, v in source.items() if k in ENV_WHITELIST and not is_secret_name(k)}


def candidate_environment(home: str, tmp: str) -> dict[str, str]:
    """The environment a candidate runs under: the scrubbed one, with HOME and TMPDIR in its
    scratch directory and bytecode writing off (no __pycache__ next to the policy file)."""
    env = scrubbed_environment()
    env.update(HOME=home, TMPDIR=tmp, TMP=tmp, TEMP=tmp, PYTHONDONTWRITEBYTECODE="1")
    return env


def apply_limits(limits: SandboxLimits) -> None:
    """Set the resource limits of the calling (policy) process. No core files: they would land
    in the working directory."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    if limits.memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))


def format_bytes(count: float | None) -> str:
    if count is None:
        return "none"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"
