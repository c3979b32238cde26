"""Conversions at the policy boundary, inside the policy process.

Inputs: numpy arrays become the requested array type (torch: `torch.from_numpy`, jax:
`jnp.asarray`, numpy: unchanged); Python scalars stay Python scalars.

Outputs: the policy returns a tuple or list of values in the declared order, a dict keyed
by the output names, or a bare value for a single output. The container is read through
the built-in type's own methods (a subclass that lies about its length or items is read
for what it holds). Each value (numpy array, torch tensor, jax array, nested list) becomes
a numpy array and is checked against its OutputSpec: exact shape; `int` outputs take any
integer dtype within int64, and also a float dtype whose values are all finite, integral
and within int64 (torch and numpy code often produce those), but not bool; `float`
outputs take float or integer dtypes and must be finite; `bool` outputs take bool, or
integers that are all 0 or 1. Accepted outputs are cast to int64 / float64 / bool; every
rejection names the output and the first offending index.

A dimension declared `<= bound` takes any width: a narrower value is padded to the bound
with the output's pad value; a wider one is cut to the bound when every entry past it is
the pad value, and is otherwise rejected with the bound and the first offending index.
"""
from __future__ import annotations

import contextlib
import sys

import numpy as np

from adrs_spec.bounded import describe_problem, fit_bounded
from adrs_spec.sandbox.failures import describe_exception, type_name
from adrs_spec.sandbox.records import OutputSpec

INT64_MIN, INT64_END = -(2 ** 63), 2 ** 63          # int64 holds INT64_MIN <= v < INT64_END

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
    """One returned value as a numpy ndarray, or a BadOutput (to be reported by check_outputs).

    This runs inside the timed region, so whatever a returned object does when converted
    (a lazy object computing on demand) is paid by the policy."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and issubclass(type(value), torch.Tensor):
            value = _tensor_to_numpy(torch, value)
        return np.asarray(value)
    except Exception as error:  # ragged lists and the like
        return BadOutput(f"could not be read as an array ({describe_exception(error)})")


def _tensor_to_numpy(torch, tensor) -> np.ndarray:
    """A tensor (or a subclass, with its overrides switched off) as a numpy array."""
    plain = getattr(torch._C, "DisableTorchFunctionSubclass", contextlib.nullcontext)
    with plain():
        tensor = torch.Tensor.detach(tensor).cpu().resolve_conj().resolve_neg()
        if tensor.dtype == torch.bfloat16 or tensor.dtype == torch.float16:
            tensor = tensor.float()
        return tensor.numpy()


def returned_values(result, outputs: list[OutputSpec]) -> list:
    """The returned values as numpy arrays, in the declared order (see the module docstring)."""
    names = ", ".join(o.name for o in outputs)
    kind = type(result)
    if issubclass(kind, (tuple, list)):
        items = list(tuple.__iter__(result) if issubclass(kind, tuple) else list.__iter__(result))
        if len(items) != len(outputs):
            count = f"{len(items)} value" + ("" if len(items) == 1 else "s")
            raise BadOutput(f"the policy returned {count}; the spec expects {len(outputs)} ({names})")
        return [as_numpy(v) for v in items]
    if issubclass(kind, dict):
        return [as_numpy(v) for v in _by_name(result, outputs)]
    if len(outputs) == 1 and result is not None and not issubclass(kind, (str, bytes)):
        return [as_numpy(result)]
    what = "None" if result is None else f"a value of type {type_name(result)}"
    raise BadOutput(f"the policy returned {what}; the spec expects a tuple of {len(outputs)} arrays ({names})")


def _by_name(result: dict, outputs: list[OutputSpec]) -> list:
    """The values of a returned dict in the declared order; its keys must be the output names."""
    pairs = list(dict.items(result))
    keys = [k if type(k) is str else None for k, _ in pairs]
    expected = [o.name for o in outputs]
    if None in keys or sorted(keys) != sorted(expected):
        shown = ", ".join(k if k is not None else f"a key of type {type_name(pairs[i][0])}"
                          for i, k in enumerate(keys))
        raise BadOutput(f"the policy returned a dict with keys ({shown}); the spec expects the keys "
                        f"({', '.join(expected)})")
    values = dict(zip(keys, (v for _, v in pairs)))
    return [values[name] for name in expected]


def check_outputs(values: list, outputs: list[OutputSpec]) -> tuple[np.ndarray, ...]:
    """Check every value against its spec; the cast arrays, or BadOutput naming the first problem."""
    return tuple(_check_one(i + 1, value, spec) for i, (value, spec) in enumerate(zip(values, outputs)))


def _check_one(number: int, value, spec: OutputSpec) -> np.ndarray:
    label = f"output {number} `{spec.name}`"
    if isinstance(value, BadOutput):
        raise BadOutput(f"{label} {value}")
    if value.dtype.kind == "O" and spec.kind == "int":
        value = _object_ints(label, value)
    if value.dtype.kind not in "biuf":
        raise BadOutput(f"{label} has dtype {value.dtype}; the spec expects an array of {spec.kind}s")
    convert = {"int": _as_int, "float": _as_float, "bool": _as_bool}[spec.kind]
    if spec.bounded and value.ndim == len(spec.shape):     # converted first: the pad is compared as the kind
        value = _fit_bounded(label, convert(label, value), spec)
        if value.shape == spec.shape:
            return value
    if value.shape != spec.shape:
        raise BadOutput(f"{label} has shape {_shape(value.shape)}; the spec expects {_expected(spec)}")
    return convert(label, value)


def _expected(spec: OutputSpec) -> str:
    """`(58, 256, 33)`, or `(58, 256, <= 33)` with bounded dimensions."""
    dims = [("<= " if axis in spec.bounded else "") + str(n) for axis, n in enumerate(spec.shape)]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def _fit_bounded(label: str, value: np.ndarray, spec: OutputSpec) -> np.ndarray:
    fitted, problem = fit_bounded(value, spec.shape, spec.bounded, spec.pad)
    if problem is not None:
        axis, width, where = problem
        raise BadOutput(describe_problem(label, spec.shape, spec.bounded, spec.bound_names, spec.pad, axis, width,
                                         where, fitted[where].item()))
    return fitted


def _object_ints(label: str, value: np.ndarray) -> np.ndarray:
    """An object array (what numpy makes of Python ints beyond int64) as int64, or BadOutput
    naming the first element that is not an integer or lies beyond int64."""
    for where, item in np.ndenumerate(value):
        at = list(where)
        if isinstance(item, np.integer):
            item = int(item)
        if type(item) is not int:
            raise BadOutput(f"{label} holds a value of type {type_name(item)} at {at}; the spec expects integers")
        if not INT64_MIN <= item < INT64_END:
            raise BadOutput(f"{label} has a value beyond the int64 range ({item} at {at}); the spec expects "
                            f"integers from {INT64_MIN} to {INT64_END - 1}")
    return value.astype(np.int64)


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
        _within_int64(label, value, (value < INT64_MIN) | (value >= INT64_END))
    if kind == "u":
        _within_int64(label, value, value > np.iinfo(np.int64).max)
    return value.astype(np.int64, copy=False)


def _within_int64(label: str, value: np.ndarray, beyond: np.ndarray) -> None:
    if beyond.any():
        raise BadOutput(f"{label} has a value beyond the int64 range ({_first(beyond, value)}); the spec "
                        f"expects integers from {INT64_MIN} to {INT64_END - 1}")


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
