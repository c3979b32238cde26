"""Looks for credentials in its environment and reports what it found in its second output
(the sandbox does not check invariants): flags[0, 0] = secret-looking variables seen,
flags[0, 1] = 1 if HOME is a scratch folder next to its working directory, flags[0, 2] =
the number of environment variables it has."""
import os

import numpy as np

NAMES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY")


def place(weight, replicas):
    layers, experts = weight.shape
    with open("/proc/self/environ", "rb") as handle:
        initial = handle.read().decode(errors="replace")
    seen = sum(1 for name in NAMES if name in os.environ or name + "=" in initial)
    seen += sum(1 for name in os.environ if any(m in name.upper() for m in ("KEY", "TOKEN", "SECRET")))
    home_is_scratch = os.path.dirname(os.environ.get("HOME", "")) == os.path.dirname(os.getcwd())
    flags = np.zeros((layers, experts), np.int64)
    flags[0, :3] = seen, home_is_scratch, len(os.environ)
    return np.zeros((layers, replicas), np.int64), flags, weight
