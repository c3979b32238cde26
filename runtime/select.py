"""Who breeds next: parents, inspirations, islands with ring migration, MAP-Elites cells.

Every random choice draws from the `random.Random` passed in, over lists in a fixed order
(program id, cell), so the same database and rng state give the same choices: runs are
reproducible and a resumed run continues exactly.

Islands evolve apart; every `migration_interval` iterations each island's best programs are
copied to the next island on the ring. Inside an island, a MAP-Elites archive keeps the best
program of each cell of a feature grid, so that programs unlike the current best survive.

Cells (`cell_of`). Each feature gives one bin in 0 .. feature_bins - 1:
- `code_length`: characters of the code's non-blank, non-comment lines (stripped), on a log
  scale anchored on the first program of the database (the initial one): two bins per
  doubling, the initial program's length opening bin `feature_bins // 2`. With 8 bins, bin 4
  is [L0, 1.41 L0), bin 3 [0.71 L0, L0), bin 0 everything under L0 / 2.83, bin 7 everything
  from 2.83 L0. A fixed grid: a program's length bin never changes as the run goes on.
- `score`: the fitness, in equal-width bins over `settings.score_range` when configured,
  else over the range of fitness seen so far among valid programs (the new one included);
  a program without fitness, or a range of zero width, is in bin 0.
- any other name: a metric of the spec (e.g. `balance`), the mean of its values over the
  training sets in `metrics["train"]`, binned like the score against the range seen so far.
A cell is computed once, when the program is stored; the bins of the score-like features are
relative to the range seen at that time (as in OpenEvolve), so early cells are coarser.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from adrs_spec.runtime.database import Database, Program, ProgramRef

BUILTIN_FEATURES = ("code_length", "score")
_LENGTH_BINS_PER_DOUBLING = 2
MIGRATION_META = "select.last_migration"  # the iteration of the last migration round done


@dataclass(frozen=True)
class SelectionSettings:
    """How parents and inspirations are chosen; the defaults follow the EPLB case study
    (the three best programs and two random ones in every prompt)."""

    islands: int = 3
    top_in_prompt: int = 3        # inspirations: the best programs
    random_in_prompt: int = 2     # inspirations: plus this many random valid programs
    exploit_ratio: float = 0.7    # parent uniformly among the island's `exploit_pool` best
    explore_ratio: float = 0.2    # parent uniformly among the island's valid programs
    #                               rest: parent is the elite of a uniformly chosen MAP-Elites cell
    migration_interval: int = 25  # iterations between migrations (0: never)
    migration_count: int = 1      # programs each island sends per migration
    feature_bins: int = 8
    features: tuple[str, ...] = BUILTIN_FEATURES
    exploit_pool: int = 3
    score_range: tuple[float, float] | None = None  # fixed range for the `score` feature

    def __post_init__(self) -> None:
        problems = []
        if self.islands < 1:
            problems.append(f"islands must be at least 1, got {self.islands}")
        for name in ("top_in_prompt", "random_in_prompt", "migration_interval", "migration_count"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be 0 or more, got {getattr(self, name)}")
        if self.exploit_pool < 1 or self.feature_bins < 1:
            problems.append("exploit_pool and feature_bins must be at least 1")
        ratios = (self.exploit_ratio, self.explore_ratio)
        if min(ratios) < 0 or sum(ratios) > 1:
            problems.append(f"exploit_ratio and explore_ratio must be >= 0 with a sum <= 1, got {ratios}")
        if not self.features or len(set(self.features)) != len(self.features):
            problems.append(f"features must be distinct names, at least one, got {list(self.features)}")
        if self.score_range is not None and not self.score_range[0] < self.score_range[1]:
            problems.append(f"score_range must be (low, high) with low < high, got {self.score_range}")
        if problems:
            raise ValueError("; ".join(problems))


# -- MAP-Elites cells ---------------------------------------------------------------------

def code_length(code: str) -> int:
    """Characters of the non-blank, non-comment lines, stripped: formatting does not count."""
    lines = (line.strip() for line in code.splitlines())
    return sum(len(line) for line in lines if line and not line.startswith("#"))


def cell_of(db: Database, code: str, fitness: float | None, settings: SelectionSettings,
            metrics: dict | None = None) -> tuple[int, ...]:
    """The MAP-Elites cell of a program about to be stored (binning: see the module docstring).
    `metrics` is needed only for features named after a spec metric."""
    return tuple(_feature_bin(name, db, code, fitness, metrics, settings) for name in settings.features)


def _feature_bin(name: str, db: Database, code: str, fitness: float | None, metrics: dict | None,
                 settings: SelectionSettings) -> int:
    bins = settings.feature_bins
    if name == "code_length":
        first = db.first()
        anchor = code_length(first.code if first is not None else code)
        return _length_bin(code_length(code), anchor, bins)
    if name == "score":
        seen = settings.score_range or db.fitness_range()
        return _linear_bin(fitness, seen, bins)
    value = training_mean(metrics or {}, name)
    seen = [v for v in (training_mean(m, name) for m in db.metrics_column(status="valid")) if v is not None]
    return _linear_bin(value, (min(seen), max(seen)) if seen else None, bins)


def _length_bin(length: int, anchor: int, bins: int) -> int:
    if length <= 0 or anchor <= 0:
        return 0
    offset = math.floor(_LENGTH_BINS_PER_DOUBLING * math.log2(length / anchor))
    return min(max(bins // 2 + offset, 0), bins - 1)


def _linear_bin(value: float | None, seen: tuple[float, float] | None, bins: int) -> int:
    """Equal-width bin of `value` over `seen` widened to include it; 0 when undefined."""
    if value is None or not math.isfinite(value):
        return 0
    low, high = (value, value) if seen is None else (min(seen[0], value), max(seen[1], value))
    if high <= low:
        return 0
    return min(int((value - low) / (high - low) * bins), bins - 1)


def training_mean(metrics: dict, name: str) -> float | None:
    """Mean of metric `name` over the training sets that report it, None if none does."""
    values = [m[name] for m in metrics.get("train", {}).values()
              if isinstance(m, dict) and isinstance(m.get(name), (int, float))]
    return sum(values) / len(values) if values else None


# -- parents and inspirations -------------------------------------------------------------

def choose_parent(db: Database, island: int, rng: random.Random, settings: SelectionSettings) -> Program:
    """The next parent on `island`. One draw picks the mode: exploit (uniformly among the
    island's `exploit_pool` best), explore (uniformly among its valid programs) or MAP-Elites
    (the elite of a uniformly chosen cell); a second draw picks the program. Invalid programs
    are never parents, unless the island has no valid one: then the initial program is."""
    mode = rng.random()
    if mode < settings.exploit_ratio:
        pool = [p.id for p in db.top(settings.exploit_pool, island=island)]
    elif mode < settings.exploit_ratio + settings.explore_ratio:
        pool = [p.id for p in db.refs(island=island, status="valid")]
    else:
        pool = list(db.elite_ids(island).values())
    if not pool:
        return initial_program(db, island)
    return db.get(pool[rng.randrange(len(pool))])


def initial_program(db: Database, island: int) -> Program:
    """The island's initial program, else the database's first initial program, else its first."""
    first = db.first_of_kind("initial", island) or db.first_of_kind("initial") or db.first()
    if first is None:
        raise ValueError(f"{db.path}: the program database is empty; store the initial program first")
    return first


def choose_inspirations(db: Database, island: int, parent: Program, rng: random.Random,
                        settings: SelectionSettings) -> list[Program]:
    """Programs shown next to the parent: the `top_in_prompt` best, then `random_in_prompt`
    drawn uniformly among the other valid programs; the island's own programs first, the other
    islands' when it has too few. Distinct by code (a migrant and its source count once), and
    never the parent or a copy of it. Best first, then the random ones in draw order."""
    top, extra = settings.top_in_prompt, settings.random_in_prompt
    local = db.refs(island=island, status="valid")
    others: list[ProgramRef] | None = None  # the other islands' programs, read only when needed
    seen = {parent.code_hash}
    best = _distinct(sorted(local, key=_rank), seen)[:top]
    if len(best) < top:
        others = [p for p in db.refs(status="valid") if p.island != island]
        best += _distinct(sorted(others, key=_rank), seen | _codes(best))[:top - len(best)]
    seen |= _codes(best)
    drawn = _draw(_distinct(local, seen), extra, rng)
    if len(drawn) < extra:
        others = others if others is not None else [p for p in db.refs(status="valid") if p.island != island]
        drawn += _draw(_distinct(others, seen | _codes(drawn)), extra - len(drawn), rng)
    return [db.get(p.id) for p in best + drawn]


def _codes(programs: list[ProgramRef]) -> set[str]:
    return {p.code_hash for p in programs}


def _rank(program: ProgramRef) -> tuple[float, int]:
    """Sort key: highest fitness first, the oldest first on ties (as Database.top)."""
    return (-program.fitness, program.id)


def _distinct(programs: list[ProgramRef], seen: set[str]) -> list[ProgramRef]:
    """The programs whose code is not in `seen`, the first of each code only, order kept."""
    out, codes = [], set(seen)
    for program in programs:
        if program.code_hash not in codes:
            codes.add(program.code_hash)
            out.append(program)
    return out


def _draw(pool: list[ProgramRef], k: int, rng: random.Random) -> list[ProgramRef]:
    """k programs drawn uniformly without replacement (fewer if the pool is smaller)."""
    return rng.sample(pool, min(max(k, 0), len(pool)))


# -- migration ----------------------------------------------------------------------------

def migrate(db: Database, iteration: int, rng: random.Random, settings: SelectionSettings) -> list[Program]:
    """Ring migration, on iterations that are positive multiples of `migration_interval`: each
    island's `migration_count` best programs are copied to island (i + 1) % islands with origin
    "migrant" (parent: the source), unless that island already holds the same code, so a program
    reaches each island at most once. Sources are read before any copy is made, so a program
    moves one hop per round. The copies and the round's iteration (meta `MIGRATION_META`) are
    stored in one transaction, and a round already done is not done again, so a resumed run
    that repeats an iteration adds nothing. Returns the copies. Deterministic: nothing is drawn
    from `rng` (kept in the signature for migration policies that would draw)."""
    n = settings.islands
    if n < 2 or settings.migration_interval <= 0 or iteration <= 0 or iteration % settings.migration_interval:
        return []
    if db.get_meta(MIGRATION_META, 0) >= iteration:
        return []
    sources = [(i, p) for i in range(n) for p in db.top(settings.migration_count, island=i)]
    copies, planned = [], set()
    for island, source in sources:
        target = (island + 1) % n
        if db.has_hash(source.code_hash, island=target) or (source.code_hash, target) in planned:
            continue
        planned.add((source.code_hash, target))
        origin = {"kind": "migrant", "model": None, "source_id": source.id,
                  "description": f"program {source.id} from island {island}"}
        copies.append(replace(source, id=None, parent_id=source.id, island=target, iteration=iteration,
                              origin=origin, prompt=None, response=None, tokens_in=0, tokens_out=0,
                              cost_usd=0.0, eval_seconds=0.0, created_s=0.0))
    return db.add_many(copies, meta={MIGRATION_META: iteration})
