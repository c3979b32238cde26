"""Named trace generators that workloads draw from: `trace load: float[...] = zipf_drift(...)`.

Each generator is a `Generator` in the `GENERATORS` registry: a name, a one-line doc,
typed parameters with defaults and valid bounds, and a vectorized numpy function.
Calling one validates the shape and the arguments, fills in defaults, and returns a
float64 array of exactly the requested shape, drawn only from the rng it is given (so a
workload's seed fixes its traces bit for bit). Bad arguments raise `GeneratorError` with
a message naming the value and what is allowed; the workload builder locates it in the spec.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class GeneratorError(Exception):
    """An invalid generator argument or shape; the message says what is wrong and what is allowed."""


@dataclass(frozen=True)
class GenParam:
    """One generator parameter: its type, default and valid interval (`lo`/`hi` inclusive unless strict)."""

    name: str
    dtype: str                      # "float" | "int"
    default: float | int
    doc: str
    lo: float | None = None
    hi: float | None = None
    lo_strict: bool = False

    def allowed(self) -> str:
        """The valid values in words, e.g. `>= 0`, `> 0`, `in [0, 1]`."""
        low = None if self.lo is None else (("> " if self.lo_strict else ">= ") + _fmt(self.lo))
        if self.hi is None:
            return low or "any number"
        if self.lo is None:
            return f"<= {_fmt(self.hi)}"
        return f"in {'(' if self.lo_strict else '['}{_fmt(self.lo)}, {_fmt(self.hi)}]"

    def coerce(self, value) -> float | int:
        """The value as this parameter's type, or a GeneratorError saying why it is not valid."""
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise GeneratorError(f"`{self.name}` = {value!r} is not a number; `{self.name}` must be {self.allowed()}")
        if not np.isfinite(value):
            raise GeneratorError(f"`{self.name}` = {value} is not finite; `{self.name}` must be {self.allowed()}")
        if self.dtype == "int":
            if float(value) != int(value):
                raise GeneratorError(f"`{self.name}` = {value} is not a whole number; `{self.name}` is an int")
            value = int(value)
        else:
            value = float(value)
        too_low = self.lo is not None and (value <= self.lo if self.lo_strict else value < self.lo)
        too_high = self.hi is not None and value > self.hi
        if too_low or too_high:
            raise GeneratorError(f"`{self.name}` = {_fmt(value)} is out of range; "
                                 f"`{self.name}` must be {self.allowed()}")
        return value


def _fmt(x) -> str:
    """A number as a spec would write it: 0 rather than 0.0, 0.25 as is."""
    if isinstance(x, (float, np.floating)) and float(x).is_integer():
        return str(int(x))
    return repr(x.item() if isinstance(x, np.generic) else x)


@dataclass(frozen=True)
class Generator:
    """A named trace generator; call it as `gen(rng, shape, **params)`."""

    name: str
    doc: str
    params: dict[str, GenParam]
    fn: Callable[..., np.ndarray] = field(repr=False)
    dims: tuple[str, ...] | None = None     # the required shape's axis names, or None for any rank
    loads: bool = False     # draws load (tokens, requests): boundary holdouts may push it to extremes

    def __call__(self, rng: np.random.Generator, shape: tuple[int, ...], **params) -> np.ndarray:
        shape = self._check_shape(shape)
        unknown = [k for k in params if k not in self.params]
        if unknown:
            raise GeneratorError(f"`{self.name}` has no parameter `{unknown[0]}`; its parameters are "
                                 f"{', '.join(self.params)}")
        values = {n: p.coerce(params[n]) if n in params else p.default for n, p in self.params.items()}
        out = np.asarray(self.fn(rng, shape, **values), dtype=np.float64)
        assert out.shape == shape, (self.name, out.shape, shape)
        return out

    def _check_shape(self, shape) -> tuple[int, ...]:
        shape = tuple(int(d) for d in shape)
        if self.dims is not None and len(shape) != len(self.dims):
            raise GeneratorError(f"`{self.name}` draws a {len(self.dims)}-dimensional trace "
                                 f"[{', '.join(self.dims)}], but the trace has {len(shape)} dimension(s) "
                                 f"(shape {shape})")
        if any(d < 0 for d in shape):
            raise GeneratorError(f"the trace shape {shape} has a negative dimension; every dimension must be >= 0")
        return shape


GENERATORS: dict[str, Generator] = {}


def register(gen: Generator) -> Generator:
    """Add a generator to the registry (a later one of the same name replaces the earlier)."""
    GENERATORS[gen.name] = gen
    return gen


# ---- sampling a workload's ranges and sets ----

def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def sample_range(rng: np.random.Generator, lo, hi) -> int | float:
    """One value of the half-open range `lo .. hi`: an int if both ends are ints, else a float."""
    if lo >= hi:
        raise GeneratorError(f"the range {lo} .. {hi} is empty; a range `lo .. hi` includes lo and "
                             f"excludes hi, so lo must be below hi")
    if _is_int(lo) and _is_int(hi):
        return int(rng.integers(int(lo), int(hi)))
    value = float(rng.uniform(float(lo), float(hi)))
    return value if value < hi else float(lo)


def sample_choice(rng: np.random.Generator, choices: tuple):
    """One element of a set, as a Python scalar."""
    if len(choices) == 0:
        raise GeneratorError("the set of choices is empty; list at least one value")
    value = choices[int(rng.integers(len(choices)))]
    return value.item() if isinstance(value, np.generic) else value


# ---- zipf_drift: MoE expert load with drifting skewed popularity ----

def zipf_popularity(rng: np.random.Generator, shape: tuple[int, int, int], s: float, sigma: float,
                    shift_every: int) -> np.ndarray:
    """Per-window, per-layer expert probabilities of shape (windows, layers, experts).

    Each layer ranks its experts by a random permutation and gives rank r the weight
    (r + 1) ** -s. Every `shift_every` windows (0: never) each layer draws a new
    permutation and its drift restarts; within a regime the log weights take a Gaussian
    random walk of step `sigma`, so the popularity drifts by log-normal factors.
    """
    windows, layers, experts = shape
    period = shift_every if shift_every > 0 else max(windows, 1)
    regimes = -(-windows // period) if windows else 0
    base = -s * np.log(np.arange(1, experts + 1, dtype=np.float64))
    ranks = np.argsort(rng.random((regimes, layers, experts)), axis=-1)
    log_w = base[ranks]                                            # (regimes, layers, experts)
    steps = rng.normal(0.0, sigma, size=shape) if sigma > 0 else np.zeros(shape)
    walk = np.cumsum(steps, axis=0)
    regime = np.arange(windows) // period
    start = regime * period                                        # first window of each one's regime
    walk = walk - walk[start] + steps[start]                       # restart the walk at each regime
    log_w = log_w[regime] + walk
    log_w -= log_w.max(axis=-1, keepdims=True)
    p = np.exp(log_w)
    return p / p.sum(axis=-1, keepdims=True)


def window_tokens(rng: np.random.Generator, windows: int, tokens: int, burst: float,
                  burst_scale: float) -> np.ndarray:
    """Tokens per window (int64): `tokens`, or `tokens * burst_scale` with probability `burst`."""
    bursts = rng.random(windows) < burst if burst > 0 else np.zeros(windows, dtype=bool)
    return np.where(bursts, np.rint(tokens * burst_scale), tokens).astype(np.int64)


def _zipf_drift(rng, shape, s, sigma, tokens, shift_every, burst, burst_scale):
    windows, layers, experts = shape
    if experts == 0 or windows == 0 or layers == 0:
        return np.zeros(shape)
    p = zipf_popularity(rng, shape, s, sigma, shift_every)
    n = window_tokens(rng, windows, tokens, burst, burst_scale)
    counts = rng.multinomial(np.broadcast_to(n[:, None], (windows, layers)), p)
    return counts.astype(np.float64)


register(Generator(
    "zipf_drift",
    "MoE expert load: per-layer Zipf popularity with log-normal drift, regime shifts and bursts",
    {
        "s": GenParam("s", "float", 1.05, "Zipf exponent of the expert popularity (0: uniform)", lo=0.0),
        "sigma": GenParam("sigma", "float", 0.05, "step of the log-popularity random walk per window", lo=0.0),
        "tokens": GenParam("tokens", "int", 819200, "tokens routed per layer per window", lo=0),
        "shift_every": GenParam("shift_every", "int", 0, "windows between regime shifts (0: never)", lo=0),
        "burst": GenParam("burst", "float", 0.0, "probability that a window is a burst", lo=0.0, hi=1.0),
        "burst_scale": GenParam("burst_scale", "float", 4.0, "token multiplier of a burst window", lo=0.0),
    },
    _zipf_drift,
    dims=("windows", "layers", "experts"),
    loads=True,
))


# ---- primitives ----

def _uniform(rng, shape, low, high):
    if not low < high:
        raise GeneratorError(f"`low` = {_fmt(low)} must be below `high` = {_fmt(high)}")
    return rng.uniform(low, high, size=shape)


def _randint(rng, shape, low, high):
    if not low < high:
        raise GeneratorError(f"`low` = {low} must be below `high` = {high} (the integers low .. high - 1 "
                             f"are drawn)")
    return rng.integers(low, high, size=shape).astype(np.float64)


def _dirichlet(rng, shape, alpha, total):
    if len(shape) == 0 or shape[-1] == 0:
        raise GeneratorError(f"`dirichlet` splits a total over the last axis, but the trace shape {shape} "
                             f"has no non-empty last axis")
    draws = rng.dirichlet(np.full(shape[-1], alpha), size=shape[:-1])
    return draws * total


register(Generator("uniform", "independent uniform values in [low, high)", {
    "low": GenParam("low", "float", 0.0, "lowest value (included)"),
    "high": GenParam("high", "float", 1.0, "highest value (excluded)"),
}, _uniform))

register(Generator("normal", "independent normal values", {
    "mean": GenParam("mean", "float", 0.0, "mean"),
    "std": GenParam("std", "float", 1.0, "standard deviation", lo=0.0),
}, lambda rng, shape, mean, std: rng.normal(mean, std, size=shape)))

register(Generator("lognormal", "independent log-normal values, exp of a normal(mean, sigma)", {
    "mean": GenParam("mean", "float", 0.0, "mean of the underlying normal"),
    "sigma": GenParam("sigma", "float", 1.0, "standard deviation of the underlying normal", lo=0.0),
}, lambda rng, shape, mean, sigma: rng.lognormal(mean, sigma, size=shape)))

register(Generator("randint", "independent integers in low .. high - 1 (stored as floats)", {
    "low": GenParam("low", "int", 0, "lowest integer (included)"),
    "high": GenParam("high", "int", 10, "end of the range (excluded)"),
}, _randint))

register(Generator("dirichlet", "shares of `total` along the last axis, Dirichlet(alpha) distributed", {
    "alpha": GenParam("alpha", "float", 1.0, "concentration (small: skewed, large: even)", lo=0.0, lo_strict=True),
    "total": GenParam("total", "float", 1.0, "sum of each vector along the last axis", lo=0.0),
}, _dirichlet))

register(Generator("constant", "every entry equal to `value`", {
    "value": GenParam("value", "float", 0.0, "the value"),
}, lambda rng, shape, value: np.full(shape, value, dtype=np.float64)))


# ---- availability and draws without replacement ----

def _markov_onoff(rng, shape, on_to_off, off_to_on):
    """1 (on) / 0 (off) along the first axis (time) of each series, a two-state Markov chain."""
    if len(shape) == 0:
        raise GeneratorError("`markov_onoff` draws series along the first axis, but the trace has no dimensions")
    steps, rest = shape[0], shape[1:]
    out = np.empty(shape)
    if steps == 0:
        return out
    rate = on_to_off + off_to_on
    stationary_on = off_to_on / rate if rate > 0 else 1.0      # never switching: start on
    on = rng.random(rest) < stationary_on
    out[0] = on
    for t in range(1, steps):
        u = rng.random(rest)
        on = np.where(on, u >= on_to_off, u < off_to_on)
        out[t] = on
    return out


register(Generator(
    "markov_onoff",
    "availability (1 on, 0 off) along the first axis, a two-state Markov chain per series, "
    "started from its stationary distribution",
    {
        "on_to_off": GenParam("on_to_off", "float", 0.05, "probability per step that an on series turns off",
                              lo=0.0, hi=1.0),
        "off_to_on": GenParam("off_to_on", "float", 0.2, "probability per step that an off series turns on",
                              lo=0.0, hi=1.0),
    },
    _markov_onoff,
))

VECTORIZED_KEYS = 1 << 24     # random keys drawn at once by `distinct`; beyond, one row at a time


def _distinct(rng, shape, low, high):
    """Integers low .. high - 1, distinct along the last axis (drawn without replacement)."""
    if len(shape) == 0:
        raise GeneratorError("`distinct` draws without replacement along the last axis, but the trace has "
                             "no dimensions")
    if not low < high:
        raise GeneratorError(f"`low` = {low} must be below `high` = {high} (the integers low .. high - 1 "
                             f"are drawn)")
    width, pool = shape[-1], high - low
    if width > pool:
        raise GeneratorError(f"`distinct` draws {width} distinct integers along the last axis, but "
                             f"{low} .. {high} holds only {pool}; widen the range or shorten the axis")
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    if rows == 0 or width == 0:
        return np.zeros(shape)
    if rows * pool <= VECTORIZED_KEYS:
        keys = rng.random((rows, pool))
        picked = np.argpartition(keys, width - 1, axis=1)[:, :width] if width < pool else \
            np.broadcast_to(np.arange(pool), (rows, pool))
        order = np.argsort(np.take_along_axis(keys, picked, axis=1), axis=1)    # a random order, too
        drawn = np.take_along_axis(picked, order, axis=1)
    else:
        drawn = np.stack([rng.choice(pool, size=width, replace=False) for _ in range(rows)])
    return (drawn + low).reshape(shape).astype(np.float64)


register(Generator(
    "distinct",
    "integers in low .. high - 1, distinct along the last axis (without replacement; "
    "low = 0, high = n over an axis of n is a random permutation)",
    {
        "low": GenParam("low", "int", 0, "lowest integer (included)"),
        "high": GenParam("high", "int", 10, "end of the range (excluded)"),
    },
    _distinct,
))


# ---- transaction sets: txn_keys, txn_writes, txn_offsets, txn_lengths ----
# One transaction set is drawn from `seed` (sample it per case, `seed = 0 .. 1000000000`) and
# the four generators return its parts, so traces drawn with the same arguments agree. With
# the default seed -1, a trace used alone draws its set from the case's stream.

def txn_set(rng: np.random.Generator, txns: int, width: int, seed: int, keys: int, skew: float, write_frac: float, min_len: int,
            max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(key, write, offset [txns, width], length [txns]) of one transaction set.

    Each transaction has a length uniform in min_len .. max_len (inclusive, at most `width`)
    and that many operations on distinct keys, one per time slot, drawn by Zipf(skew)
    popularity over `keys` keys (the hottest keys at random ids); each operation is a write
    with probability `write_frac`. Unused operations hold key -1, write 0 and offset 0."""
    if min_len > max_len:
        raise GeneratorError(f"`min_len` = {min_len} must be at most `max_len` = {max_len}")
    if max_len > width:
        raise GeneratorError(f"`max_len` = {max_len} operations do not fit in the trace's {width} operation "
                             f"slots; raise the ops dimension or lower max_len")
    if max_len > keys:
        raise GeneratorError(f"`max_len` = {max_len} operations on distinct keys need at least that many keys, "
                             f"but `keys` = {keys}")
    rng = np.random.default_rng(seed) if seed >= 0 else rng
    popularity = 1.0 / np.arange(1, keys + 1) ** skew
    popularity = popularity[rng.permutation(keys)]
    popularity /= popularity.sum()
    lengths = rng.integers(min_len, max_len + 1, size=txns)
    key = np.full((txns, width), -1.0)
    write = np.zeros((txns, width))
    offset = np.zeros((txns, width))
    for t, n in enumerate(lengths):
        key[t, :n] = rng.choice(keys, size=n, replace=False, p=popularity)
        write[t, :n] = rng.random(n) < write_frac
        offset[t, :n] = np.arange(n)
    return key, write, offset, lengths.astype(np.float64)


_TXN_PARAMS = {
    "seed": GenParam("seed", "int", -1, "the transaction set's seed, shared by its four traces (sample it per "
                     "case); -1: drawn from the case's stream", lo=-1),
    "keys": GenParam("keys", "int", 100, "number of distinct keys", lo=1),
    "skew": GenParam("skew", "float", 1.0, "Zipf exponent of key popularity (0: uniform)", lo=0.0),
    "write_frac": GenParam("write_frac", "float", 0.5, "probability that an operation writes", lo=0.0, hi=1.0),
    "min_len": GenParam("min_len", "int", 2, "fewest operations in a transaction", lo=1),
    "max_len": GenParam("max_len", "int", 4, "most operations in a transaction", lo=1),
}


def _txn_part(part: int, matrix: bool):
    def draw(rng, shape, **args):
        width = shape[1] if matrix else args["max_len"]
        return txn_set(rng, shape[0], width, **args)[part]
    return draw


register(Generator("txn_keys", "the key of each operation of a transaction set (-1: no operation)",
                   dict(_TXN_PARAMS), _txn_part(0, True), dims=("txns", "ops")))
register(Generator("txn_writes", "1 where an operation of a transaction set writes, else 0",
                   dict(_TXN_PARAMS), _txn_part(1, True), dims=("txns", "ops")))
register(Generator("txn_offsets", "the time slot of each operation of a transaction set, from its start",
                   dict(_TXN_PARAMS), _txn_part(2, True), dims=("txns", "ops")))
register(Generator("txn_lengths", "the number of time slots of each transaction of a set",
                   dict(_TXN_PARAMS), _txn_part(3, False), dims=("txns",)))
