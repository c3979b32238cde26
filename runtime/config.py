"""The settings of an evolve run: a default for every key, read from YAML, overridden by flags.

A config file is a mapping with the sections below (see evolve.example.yaml); every key is
optional. An unknown key is an error that names the nearest valid one, a value of the wrong
type names the key and the type it needs. The resolved settings are written to the run
directory, so `--resume` continues with exactly the settings the run started with.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from adrs_spec.errors import InputError


@dataclass(frozen=True)
class ModelSettings:
    """One model of an OpenAI-compatible endpoint, drawn with probability weight / total."""

    name: str = ""
    weight: float = 1.0
    input_usd_per_mtok: float = 0.0      # price per million prompt tokens
    output_usd_per_mtok: float = 0.0     # price per million completion tokens


@dataclass(frozen=True)
class LLMSection:
    """An OpenAI-compatible endpoint. No models: the built-in mutator is used instead."""

    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"  # the key is read from this variable, never from a file
    models: tuple[ModelSettings, ...] = ()
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 2.0
    temperature: float = 0.7
    max_tokens: int = 8192
    budget_usd: float | None = None      # stop asking once this much has been spent
    edit_retries: int = 2                # a response with no applicable edit is sent back this often


@dataclass(frozen=True)
class PromptSection:
    """What the LLM is told. Templates use {placeholders}: system: {problem} {context}
    {edit_instructions}; user: {parent} {parent_metrics} {feedback} {inspirations}."""

    context: str = ""                    # the user's own notes on the problem
    system_template: str | None = None
    user_template: str | None = None
    mode: str = "diff"                   # "diff" (SEARCH/REPLACE) or "rewrite" (whole program)


@dataclass(frozen=True)
class SearchSection:
    islands: int = 3
    top_in_prompt: int = 3               # the best programs shown as inspirations
    random_in_prompt: int = 2            # plus a few random ones
    exploit_ratio: float = 0.7
    explore_ratio: float = 0.2
    migration_interval: int = 25
    migration_count: int = 1
    feature_bins: int = 8
    features: tuple[str, ...] = ("code_length", "score")
    rank_runtime_s: float | None = None  # rank by the score at this runtime (exactly reproducible runs)


@dataclass(frozen=True)
class EvaluationSection:
    workers: int = 0                     # parallel evaluations; 0: one per core
    array: str = "numpy"                 # the array type candidates receive
    timeout_s: float = 20.0              # per policy call
    memory_gb: float = 8.0               # address-space limit per candidate, 0 for none
    smoke: bool = True                   # one instance, guards only, before the training set
    remeasure_top: int = 3               # re-measured before the best is chosen
    remeasure_runs: int = 3
    holdout_top: int = 3                 # evaluated on the holdouts for the report
    workload_seed: int = 0               # seed of the training and holdout sets (validate's --seed)
    baselines: bool = True               # evaluate the spec's shipped policies for the summary
    warm_worker: bool = True             # False: a fresh interpreter per candidate (slower; for comparison)


@dataclass(frozen=True)
class StopSection:
    iterations: int = 300                # children proposed (each is evaluated unless rejected)
    patience: int = 0                    # stop after this many iterations without a better best; 0: never
    target_score: float | None = None    # stop once the best training score reaches this


@dataclass(frozen=True)
class Settings:
    seed: int = 0
    initial: str | None = None           # default: <spec folder>/<spec name>/policies/round_robin.py
    allow_invalid_initial: bool = False
    llm: LLMSection = field(default_factory=LLMSection)
    prompt: PromptSection = field(default_factory=PromptSection)
    search: SearchSection = field(default_factory=SearchSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    stop: StopSection = field(default_factory=StopSection)

    @property
    def uses_llm(self) -> bool:
        return bool(self.llm.models)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_settings(path: str | None = None, data: dict | None = None) -> Settings:
    """Settings from a YAML file (or an already-read mapping); defaults for what is missing."""
    if path is not None:
        if not os.path.isfile(path):
            raise InputError(f"{path}: no such config file")
        try:
            with open(path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
            raise InputError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', None) or err})") from None
    data = {} if data is None else data
    return _build(Settings, data, path or "config", "")


def _build(cls, data, source: str, prefix: str):
    if not isinstance(data, dict):
        raise InputError(f"{source}: `{prefix.rstrip('.') or 'the config'}` must be a mapping of keys to values")
    hints = get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    values = {}
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f"; did you mean `{prefix}{close[0]}`?" if close else f"; valid keys here: {', '.join(known)}"
            raise InputError(f"{source}: unknown key `{prefix}{key}`{hint}")
        values[key] = _convert(hints[key], value, source, f"{prefix}{key}")
    return cls(**values)


def _convert(hint, value, source: str, key: str):
    origin, args = get_origin(hint), get_args(hint)
    if is_dataclass(hint):
        return _build(hint, value, source, key + ".")
    if args and type(None) in args:                      # X | None
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, source, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{source}: `{key}` must be a list")
        return tuple(_convert(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise InputError(f"{source}: `{key}` must be {names.get(hint, hint)}, not {value!r}")


def with_overrides(settings: Settings, **dotted: Any) -> Settings:
    """A copy with `section.key` values replaced (None values are skipped: flag not given)."""
    for key, value in dotted.items():
        if value is None:
            continue
        section, _, name = key.partition("__")
        if name:
            settings = dataclasses.replace(settings, **{section: dataclasses.replace(getattr(settings, section),
                                                                                    **{name: value})})
        else:
            settings = dataclasses.replace(settings, **{section: value})
    return settings


def validate_settings(settings: Settings) -> None:
    """Value checks that types alone do not catch; each names the key."""
    checks = [
        (settings.stop.iterations >= 0, "stop.iterations must be at least 0"),
        (settings.search.islands >= 1, "search.islands must be at least 1"),
        (settings.evaluation.workers >= 0, "evaluation.workers must be 0 (one per core) or more"),
        (settings.evaluation.timeout_s > 0, "evaluation.timeout_s must be positive"),
        (settings.evaluation.array in ("numpy", "torch", "jax"), "evaluation.array must be numpy, torch or jax"),
        (settings.prompt.mode in ("diff", "rewrite"), "prompt.mode must be `diff` or `rewrite`"),
        (settings.llm.budget_usd is None or settings.llm.budget_usd >= 0, "llm.budget_usd must be positive"),
        (all(m.name for m in settings.llm.models), "every llm.models entry needs a `name`"),
        (all(m.weight > 0 for m in settings.llm.models), "llm.models weights must be positive"),
        (0 <= settings.search.exploit_ratio + settings.search.explore_ratio <= 1,
         "search.exploit_ratio + search.explore_ratio must be between 0 and 1"),
        (set(settings.search.features) <= {"code_length", "score"},
         "search.features may name code_length and score"),
    ]
    for ok, message in checks:
        if not ok:
            raise InputError(f"config: {message}")


def worker_count(settings: Settings) -> int:
    return settings.evaluation.workers or max(1, os.cpu_count() or 1)
