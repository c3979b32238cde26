"""Selection on small hand-built databases: cells, parents, inspirations, ring migration,
with seeded rngs and exact outcomes."""
import dataclasses
import random

import pytest

from adrs_spec.runtime.database import Database, Program
from adrs_spec.runtime.select import (SelectionSettings, cell_of, choose_inspirations, choose_parent, code_length,
                                      initial_program, migrate, training_mean)


def make(n: int, *, island: int = 0, fitness: float | None = None, status: str = "valid", cell: tuple = (0, 0),
         kind: str = "mutator", code: str | None = None, metrics: dict | None = None) -> Program:
    if status == "valid" and fitness is None:
        fitness = float(n)
    return Program(id=None, code=code or f"x = {n}\n", code_hash=f"h{n}", parent_id=None, island=island,
                   generation=0, iteration=n, status=status, fitness=fitness if status == "valid" else None,
                   metrics=metrics or {"train": {"w": {"score": fitness}}}, feedback={}, cell=cell,
                   origin={"kind": kind, "model": None, "description": ""}, tokens_in=5, cost_usd=0.5)


@pytest.fixture
def db(tmp_path):
    with Database(str(tmp_path / "programs.db")) as database:
        yield database


def ids(programs):
    return [p.id for p in programs]


# -- settings and cells ---------------------------------------------------------------------

def test_settings_refuse_impossible_values():
    with pytest.raises(ValueError, match=r"islands must be at least 1, got 0; exploit_ratio and explore_ratio "
                                         r"must be >= 0 with a sum <= 1, got \(0.9, 0.2\)"):
        SelectionSettings(islands=0, exploit_ratio=0.9, explore_ratio=0.2)
    with pytest.raises(ValueError, match="features must be distinct names"):
        SelectionSettings(features=("score", "score"))
    with pytest.raises(ValueError, match="score_range must be"):
        SelectionSettings(score_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="migration_interval must be 0 or more, got -1"):
        SelectionSettings(migration_interval=-1)


def test_code_length_ignores_comments_blank_lines_and_indentation():
    assert code_length("def f(x):\n    # why\n\n    return x  \n") == len("def f(x):") + len("return x")
    assert code_length("") == 0


def test_code_length_bins_are_log_scale_around_the_first_program(db):
    settings = SelectionSettings(features=("code_length",))
    assert cell_of(db, "a" * 100, None, settings) == (4,)  # empty database: the program is its own anchor
    db.add(make(1, code="a" * 100))
    lengths = {10: 0, 35: 0, 36: 1, 50: 2, 70: 2, 71: 3, 99: 3, 100: 4, 141: 4, 142: 5, 199: 5, 200: 6, 282: 6,
               283: 7, 5000: 7}
    assert {n: cell_of(db, "a" * n, None, settings)[0] for n in lengths} == lengths
    assert cell_of(db, "a" * 100, None, dataclasses.replace(settings, feature_bins=4)) == (2,)


def test_score_bins_over_the_range_seen_or_a_configured_one(db):
    settings = SelectionSettings(features=("score",))
    assert cell_of(db, "", 5.0, settings) == (0,)  # nothing seen: a range of zero width
    db.add(make(1, fitness=0.0))
    db.add(make(2, fitness=10.0))
    db.add(make(3, status="invalid"))
    got = {f: cell_of(db, "", f, settings)[0] for f in (0.0, 1.2, 1.25, 5.0, 9.99, 10.0, 20.0, -10.0)}
    assert got == {0.0: 0, 1.2: 0, 1.25: 1, 5.0: 4, 9.99: 7, 10.0: 7, 20.0: 7, -10.0: 0}
    assert cell_of(db, "", None, settings) == (0,)
    fixed = dataclasses.replace(settings, score_range=(0.0, 100.0))
    assert [cell_of(db, "", f, fixed)[0] for f in (5.0, 50.0, 99.0, 150.0)] == [0, 4, 7, 7]


def test_default_features_and_a_metric_feature(db):
    def with_balance(n, *values):
        return make(n, metrics={"train": {f"set{i}": {"balance": v} for i, v in enumerate(values)}})

    db.add(with_balance(1, 0.25, 0.75))  # mean 0.5
    db.add(with_balance(2, 1.0))
    assert cell_of(db, "x = 1\n", 2.0, SelectionSettings()) == (4, 7)
    settings = SelectionSettings(features=("balance",))
    assert cell_of(db, "", None, settings, {"train": {"a": {"balance": 0.75}}}) == (4,)
    assert cell_of(db, "", None, settings, {"train": {"a": {"balance": 0.75}, "b": {"balance": 1.0}}}) == (6,)
    assert cell_of(db, "", None, settings, {}) == (0,)
    assert training_mean({"train": {"a": {"balance": 0.5}, "b": {"score": 3}}}, "balance") == 0.5
    assert training_mean({"holdout": {"a": {"balance": 0.5}}}, "balance") is None


# -- parents --------------------------------------------------------------------------------

def island_of_five(db):
    """Island 0: ids 1..5 with fitness 1, 5, 3, 4, 2 in four cells, plus an invalid program
    (id 6); island 1: one program (id 7) that is better than all of them."""
    cells = [(0, 0), (0, 1), (0, 1), (2, 0), (3, 3)]
    for n, (fitness, cell) in enumerate(zip([1.0, 5.0, 3.0, 4.0, 2.0], cells), start=1):
        db.add(make(n, fitness=fitness, cell=cell, kind="initial" if n == 1 else "mutator"))
    db.add(make(6, status="invalid", cell=(1, 0)))
    db.add(make(7, island=1, fitness=50.0))


def test_exploit_takes_the_islands_best(db):
    island_of_five(db)
    rng = random.Random(0)
    greedy = SelectionSettings(exploit_ratio=1.0, explore_ratio=0.0, exploit_pool=1)
    assert {choose_parent(db, 0, rng, greedy).id for _ in range(20)} == {2}
    pool = dataclasses.replace(greedy, exploit_pool=3)
    assert {choose_parent(db, 0, rng, pool).id for _ in range(100)} == {2, 4, 3}


def test_explore_draws_any_valid_program_of_the_island(db):
    island_of_five(db)
    rng = random.Random(1)
    explore = SelectionSettings(exploit_ratio=0.0, explore_ratio=1.0)
    assert {choose_parent(db, 0, rng, explore).id for _ in range(200)} == {1, 2, 3, 4, 5}


def test_map_elites_mode_draws_cell_elites(db):
    island_of_five(db)
    rng = random.Random(2)
    cells = SelectionSettings(exploit_ratio=0.0, explore_ratio=0.0)
    assert {choose_parent(db, 0, rng, cells).id for _ in range(200)} == {1, 2, 4, 5}  # 3 loses cell (0, 1) to 2


def test_default_mix_is_exact_under_a_seed(db):
    island_of_five(db)
    settings = SelectionSettings()
    first = [choose_parent(db, 0, random.Random(11), settings).id for _ in range(3)]
    rng = random.Random(11)
    sequence = [choose_parent(db, 0, rng, settings).id for _ in range(12)]
    assert first == [sequence[0]] * 3
    assert sequence == [3, 4, 3, 3, 3, 1, 2, 3, 3, 5, 3, 3]
    rng = random.Random(11)
    assert [choose_parent(db, 0, rng, settings).id for _ in range(12)] == sequence


def test_without_a_valid_program_the_parent_is_the_initial_one(db):
    with pytest.raises(ValueError, match="the program database is empty; store the initial program first"):
        choose_parent(db, 0, random.Random(0), SelectionSettings())
    db.add(make(1, status="invalid", kind="initial"))
    db.add(make(2, status="error"))
    db.add(make(3, status="invalid", island=1, kind="initial"))
    db.add(make(4, island=2, status="error"))
    for mode in [(1.0, 0.0), (0.0, 1.0), (0.0, 0.0)]:
        settings = SelectionSettings(exploit_ratio=mode[0], explore_ratio=mode[1])
        rng = random.Random(3)
        assert [choose_parent(db, i, rng, settings).id for i in (0, 1, 2, 5)] == [1, 3, 1, 1]
    assert initial_program(db, 1).id == 3


# -- inspirations ---------------------------------------------------------------------------

def test_inspirations_are_the_best_then_random_others_never_the_parent(db):
    island_of_five(db)
    parent = db.get(2)
    settings = SelectionSettings(top_in_prompt=2, random_in_prompt=2)
    rng = random.Random(5)
    chosen = choose_inspirations(db, 0, parent, rng, settings)
    assert ids(chosen[:2]) == [4, 3]
    assert ids(chosen) == [4, 3, 5, 1]
    for seed in range(30):
        got = ids(choose_inspirations(db, 0, parent, random.Random(seed), settings))
        assert got[:2] == [4, 3] and sorted(got[2:]) == [1, 5]


def test_inspirations_fill_from_other_islands_and_skip_copies_of_the_parent(db):
    island_of_five(db)
    parent = db.get(7)  # the only program of island 1; its copy on island 2 shares its code
    db.add(dataclasses.replace(db.get(7), island=2, origin={"kind": "migrant", "model": None, "description": ""}))
    settings = SelectionSettings(top_in_prompt=2, random_in_prompt=1)
    chosen = choose_inspirations(db, 1, parent, random.Random(4), settings)
    assert ids(chosen[:2]) == [2, 4] and chosen[2].id in {1, 3, 5}
    assert len({p.code_hash for p in chosen}) == 3 and parent.code_hash not in {p.code_hash for p in chosen}
    everything = SelectionSettings(top_in_prompt=3, random_in_prompt=10)
    assert sorted(ids(choose_inspirations(db, 1, parent, random.Random(4), everything))) == [1, 2, 3, 4, 5]


def test_inspirations_of_a_lone_program_are_empty(db):
    db.add(make(1, kind="initial"))
    assert choose_inspirations(db, 0, db.get(1), random.Random(0), SelectionSettings()) == []


# -- migration ------------------------------------------------------------------------------

def test_ring_migration_copies_each_best_once(db):
    db.add(make(1, island=0, fitness=9.0, cell=(1, 2)))
    db.add(make(2, island=1, fitness=3.0))
    db.add(make(3, island=2, fitness=5.0))
    db.add(make(4, island=0, fitness=1.0))
    settings = SelectionSettings(islands=3, migration_interval=5)
    rng = random.Random(0)
    assert migrate(db, 4, rng, settings) == [] and migrate(db, 0, rng, settings) == []
    moved = migrate(db, 5, rng, settings)
    assert [(p.id, p.parent_id, p.island, p.code) for p in moved] == [(5, 1, 1, "x = 1\n"), (6, 2, 2, "x = 2\n"),
                                                                     (7, 3, 0, "x = 3\n")]
    copy = db.get(5)
    assert copy == moved[0]
    assert (copy.fitness, copy.cell, copy.metrics, copy.iteration) == (9.0, (1, 2), db.get(1).metrics, 5)
    assert copy.origin == {"kind": "migrant", "model": None, "source_id": 1, "description": "program 1 from island 0"}
    assert (copy.tokens_in, copy.cost_usd, copy.prompt) == (0, 0.0, None)
    assert db.elites(1)[(1, 2)].id == 5
    assert migrate(db, 5, rng, settings) == []  # a resumed run repeating the round adds nothing
    # island 1's best is now the copy of 1: it moves on to island 2; island 2's best (3) is already on 0,
    # island 0's best (1) already on 1
    assert [(p.parent_id, p.island, p.code) for p in migrate(db, 10, rng, settings)] == [(5, 2, "x = 1\n")]
    # island 2's best is now program 1's code, which island 0 holds: nothing moves any more
    assert migrate(db, 15, rng, settings) == []
    assert db.get_meta("select.last_migration") == 15
    assert db.totals()["tokens_in"] == 4 * 5  # copies carry no LLM usage
    assert db.check() == []


def test_migration_count_and_single_island(db):
    for n, island in [(1, 0), (2, 0), (3, 0), (4, 1)]:
        db.add(make(n, island=island))
    two = SelectionSettings(islands=2, migration_interval=1, migration_count=2)
    assert [(p.code_hash, p.island) for p in migrate(db, 1, random.Random(0), two)] == \
           [("h3", 1), ("h2", 1), ("h4", 0)]
    assert migrate(db, 7, random.Random(0), SelectionSettings(islands=1, migration_interval=1)) == []
    assert migrate(db, 7, random.Random(0), SelectionSettings(migration_interval=0)) == []


# -- reproducibility ------------------------------------------------------------------------

def small_run(path: str, seed: int) -> list[tuple]:
    """A miniature loop: parent, inspirations, a child whose cell comes from cell_of, migration."""
    settings = SelectionSettings(islands=2, migration_interval=4, top_in_prompt=2, random_in_prompt=1)
    rng = random.Random(seed)
    trace = []
    with Database(path) as db:
        for island in range(2):
            db.add(make(0, island=island, fitness=1.0, kind="initial", code="x = 0\n"))
        for iteration in range(1, 25):
            island = iteration % 2
            parent = choose_parent(db, island, rng, settings)
            inspirations = choose_inspirations(db, island, parent, rng, settings)
            code = parent.code + f"y{iteration} = {rng.randrange(100)}\n"
            fitness = float(rng.randrange(1000)) if rng.random() < 0.8 else None
            child = dataclasses.replace(
                make(100 + iteration, island=island, fitness=fitness, code=code,
                     status="valid" if fitness is not None else "invalid"),
                parent_id=parent.id, cell=cell_of(db, code, fitness, settings))
            stored = db.add(child)
            moved = migrate(db, iteration, rng, settings)
            trace.append((parent.id, tuple(ids(inspirations)), stored.cell, tuple(ids(moved))))
    return trace


def test_same_seed_same_choices(tmp_path):
    first = small_run(str(tmp_path / "a.db"), 3)
    assert first == small_run(str(tmp_path / "b.db"), 3)
    assert first != small_run(str(tmp_path / "c.db"), 4)
    assert any(moved for *_, moved in first)
