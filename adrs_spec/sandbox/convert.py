"""Conversions at the policy boundary, inside the policy process.

Inputs: numpy arrays become the requested array type (torch: `torch.from_numpy`, jax:
`jnp.asarray`, numpy: unchanged); Python scalars stay Python scalars.

Outputs: each returned value (numpy array, torch tensor, jax array, nested list) becomes a
numpy array and is checked against its OutputSpec: exact shape; `int` outputs take any
integer dtype, and also a float dtype whose values are all finite and integral (torch and
numpy code often produce those), but not bool; `float` outputs take float or integer
dtypes and must be finite; `bool` outputs take bool, or integers that are all 0 or 1.
Accepted outputs are cast to int64 / float64 / bool.
"""
from __future__ import annotations

import sys

import numpy as np

from adrs_spec.sandbox.records import OutputSpec

ARRAY_LIBRARIES = ("numpy", "torch", "jax")


class BadOutput(Exception):
    """The policy's return value breaks the declared outputs; the message says how."""


# ------------------------------------------------------------------ inputs
def to_library(args: list, array: str) -> tuple:
    """The call's arguments in the requested array type."""
    if array == "torch":
        import torch

        return tuple(torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args)
    if array == "jax":
        import jax
        import jax.numpy as jnp

        converted = tuple(jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args)
        return jax.block_until_ready(converted)
    return tuple(args)


def wait_for_device(result) -> None:
    """Block until asynchronous libraries (jax, CUDA torch) have finished computing `result`."""
    jax = sys.modules.get("jax")
    if jax is not None:
        jax.block_until_ready(result)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        torch.cuda.synchronize()


# ------------------------------------------------------------------ outputs
def as_numpy(value):
    """One returned value as a numpy array (or the value itself if it is not array-like).

    This runs inside the timed region, so whatever a returned object does when converted
    (a lazy object computing on demand) is paid by the policy."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().resolve_conj().resolve_neg()
        if tensor.dtype == torch.bfloat16 or tensor.dtype == torch.float16:
            tensor = tensor.float()
        return tensor.numpy()
    try:
        return np.asarray(value)
    except Exception as error:  # ragged lists and the like: reported by check_outputs
        return BadOutput(f"could not be read as an array ({type(error).__name__}: {error})")


def returned_values(result, outputs: list[OutputSpec]) -> list:
    """The returned tuple/list as numpy arrays; a bare array is accepted for a single output."""
    names = ", ".join(o.name for o in outputs)
    if isinstance(result, (tuple, list)):
        if len(result) != len(outputs):
            raise BadOutput(f"the policy returned {len(result)} values; the spec expects {len(outputs)} ({names})")
        return [as_numpy(v) for v in result]
    if len(outputs) == 1 and result is not None and not isinstance(result, (str, bytes, dict)):
        return [as_numpy(result)]
    what = "None" if result is None else f"a value of type {type(result).__name__}"
    raise BadOutput(f"the policy returned {what}; the spec expects a tuple of {len(outputs)} arrays ({names})")


def check_outputs(values: list, outputs: list[OutputSpec]) -> tuple[np.ndarray, ...]:
    """Check every value against its spec; the cast arrays, or BadOutput naming the first problem."""
    return tuple(_check_one(i + 1, value, spec) for i, (value, spec) in enumerate(zip(values, outputs)))


def _check_one(number: int, value, spec: OutputSpec) -> np.ndarray:
    label = f"output {number} `{spec.name}`"
    if isinstance(value, BadOutput):
        raise BadOutput(f"{label} {value}")
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        dtype = value.dtype if isinstance(value, np.ndarray) else type(value).__name__
        raise BadOutput(f"{label} has dtype {dtype}; the spec expects an array of {spec.kind}s")
    if value.shape != spec.shape:
        raise BadOutput(f"{label} has shape {_shape(value.shape)}; the spec expects {_shape(spec.shape)}")
    return {"int": _as_int, "float": _as_float, "bool": _as_bool}[spec.kind](label, value)


def _shape(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def _first(mask: np.ndarray, value: np.ndarray) -> str:
    """`nan at [0, 3]`: the first element where mask holds."""
    where = tuple(int(i) for i in np.argwhere(mask)[0])
    return f"{value[where].item()!r} at {list(where)}"


def _as_int(label: str, value: np.ndarray) -> np.ndarray:
    kind = value.dtype.kind
    if kind == "b":
        raise BadOutput(f"{label} has dtype bool; the spec expects integers")
    if kind == "f":
        bad = ~np.isfinite(value) | (value != np.round(value))
        if bad.any():
            raise BadOutput(f"{label} has dtype {value.dtype} with non-integral values "
                            f"(e.g. {_first(bad, value)}); the spec expects integers")
    if kind == "u" and value.size and value.max() > np.iinfo(np.int64).max:
        raise BadOutput(f"{label} has values beyond the int64 range (e.g. {value.max()})")
    return value.astype(np.int64, copy=False)


def _as_float(label: str, value: np.ndarray) -> np.ndarray:
    value = value.astype(np.float64, copy=False)
    bad = ~np.isfinite(value)
    if bad.any():
        nans = int(np.isnan(value).sum())
        raise BadOutput(f"{label} has {nans} NaN and {int(bad.sum()) - nans} infinite values "
                        f"(first {_first(bad, value)}); the spec expects finite floats")
    return value


def _as_bool(label: str, value: np.ndarray) -> np.ndarray:
    if value.dtype.kind != "b":
        bad = (value != 0) & (value != 1)
        if bad.any():
            raise BadOutput(f"{label} has dtype {value.dtype} with values other than 0 and 1 "
                            f"(e.g. {_first(bad, value)}); the spec expects booleans")
    return value.astype(np.bool_, copy=False)
