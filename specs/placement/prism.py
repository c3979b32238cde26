"""Adapter: the public Prism interface (the ADRS leaderboard's `prism` problem) for placement.adrs.

A Prism policy defines `compute_model_placement(gpu_num, models)`: `models` is a list of
`Model` records (name, size in GB, request rate, SLO, current GPU), and it returns a dict
GPU id -> list of the Model objects placed there. Here every model becomes one such record
(integral values as ints, as the public generator draws them) and the returned dict becomes
the spec's `gpu_of`. The dict must place each given object exactly once (the same objects,
not copies), under integer GPU ids; ids outside 0 .. gpus are left to the spec's
`gpu_in_range` invariant. The scores come from the spec's own arrays, so a policy that edits
the records it was given changes nothing but its own view.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FUNCTION = "compute_model_placement"
ARGUMENTS = ("gpu_num", "models")


@dataclass
class Model:
    model_name: str
    model_size: int     # GB
    req_rate: int       # requests per second
    slo: int            # seconds
    cur_gpu_id: int     # the public evaluator sets it to the model's index


def _number(value):
    value = float(value)
    return int(value) if value.is_integer() else value


def inputs(size, req_rate, slo, gpus):
    models = [Model(f"model_{j}", _number(size[j]), _number(req_rate[j]), _number(slo[j]), j)
              for j in range(len(size))]
    return {"gpu_num": int(gpus), "models": models}, list(models)    # called by keyword, as the public evaluator does


def outputs(result, models):
    if not isinstance(result, dict):
        raise ValueError(f"expected a dict GPU id -> list of models, got {type(result).__name__}")
    index = {id(m): j for j, m in enumerate(models)}
    gpu_of: list = [None] * len(models)
    for gpu, placed in result.items():
        if isinstance(gpu, bool) or not isinstance(gpu, (int, np.integer)):
            raise ValueError(f"GPU id {gpu!r} is not an integer")
        if not isinstance(placed, list):
            raise ValueError(f"GPU {gpu}: expected a list of models, got {type(placed).__name__}")
        for model in placed:
            j = index.get(id(model))
            if j is None:
                raise ValueError(f"GPU {gpu} holds an object that is not one of the models given "
                                 f"({type(model).__name__}); return the Model objects themselves")
            if gpu_of[j] is not None:
                raise ValueError(f"{models[j].model_name} is placed twice (on GPUs {gpu_of[j]} and {gpu})")
            gpu_of[j] = int(gpu)
    missing = [models[j].model_name for j, g in enumerate(gpu_of) if g is None]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ValueError(f"{len(missing)} of {len(models)} models are not placed ({shown})")
    return np.array(gpu_of, dtype=object)
