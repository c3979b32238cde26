"""The program database: round trips, elites, meta checkpoints, bad files, one writer per run,
and crash safety against a real process killed with SIGKILL in the middle of its writes."""
import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from adrs_spec.errors import InputError
from adrs_spec.runtime.database import (Attempt, Database, DatabaseError, Program, ProgramRef, dump_rng,
                                        load_rng)


def make(n: int, *, island: int = 0, fitness: float | None = None, status: str = "valid",
         cell: tuple = (0, 0), **fields) -> Program:
    """Program number n: code `x = n`, hash `hn`, fitness n unless given."""
    if status == "valid" and fitness is None:
        fitness = float(n)
    base = dict(id=None, code=f"x = {n}\n", code_hash=f"h{n}", parent_id=None, island=island, generation=0,
                iteration=n, status=status, fitness=fitness if status == "valid" else None,
                metrics={"train": {"w": {"balance": 0.5, "score": fitness}}},
                feedback={"stage": "train", "verdict": status, "reason": "", "violations": [], "failure": None},
                cell=cell, origin={"kind": "mutator", "model": None, "description": f"change {n}"})
    base.update(fields)
    return Program(**base)


@pytest.fixture
def db(tmp_path):
    with Database(str(tmp_path / "programs.db")) as database:
        yield database


def test_program_round_trip_keeps_every_field(db):
    program = make(1, parent_id=None, generation=3, metrics={"train": {"a": {"balance": 0.75, "runtime_s": 0.002,
                                                                                "score": 80.5}}},
                   feedback={"stage": "smoke", "verdict": "invalid", "reason": "x", "violations": ["v[1]"],
                             "failure": {"kind": "timeout"}},
                   cell=(4, 7), origin={"kind": "llm", "model": "m1", "description": "diff"},
                   prompt="P", response="R", tokens_in=11, tokens_out=22, cost_usd=0.5, eval_seconds=1.25,
                   created_s=123.0)
    stored = db.add(program)
    assert stored.id == 1
    assert db.get(1) == stored
    assert stored == Program(**{**program.__dict__, "id": 1})


def test_created_time_is_filled_in_and_numpy_values_become_plain_json(db):
    np = pytest.importorskip("numpy")
    stored = db.add(make(1, metrics={"train": {"a": {"balance": np.float32(0.5), "counts": np.arange(3)}}},
                         fitness=np.float32(1.5), cell=(np.int64(2), np.int32(3)), tokens_in=np.int64(7)))
    assert stored.created_s > 0
    again = db.get(1)
    assert again.metrics == {"train": {"a": {"balance": 0.5, "counts": [0, 1, 2]}}}
    assert (again.fitness, again.cell, again.tokens_in) == (1.5, (2, 3), 7)
    assert type(again.fitness) is float and again == stored


def test_programs_filters_count_and_hashes(db):
    for n, island, status in [(1, 0, "valid"), (2, 1, "invalid"), (3, 0, "error"), (4, 1, "valid")]:
        db.add(make(n, island=island, status=status))
    assert [p.id for p in db.programs()] == [1, 2, 3, 4]
    assert [p.id for p in db.programs(island=1)] == [2, 4]
    assert [p.id for p in db.programs(status="valid")] == [1, 4]
    assert [p.id for p in db.programs(island=0, status="error")] == [3]
    assert db.count() == 4
    assert db.has_hash("h3") and not db.has_hash("h9")
    assert db.has_hash("h4", island=1) and not db.has_hash("h4", island=0)
    assert db.first().id == 1
    assert db.refs(island=1) == [ProgramRef(2, 1, "h2", "invalid", None), ProgramRef(4, 1, "h4", "valid", 4.0)]
    assert [m["train"]["w"]["score"] for m in db.metrics_column(status="valid")] == [1.0, 4.0]
    with pytest.raises(KeyError, match="no program 9"):
        db.get(9)


def test_top_is_valid_only_by_fitness_then_oldest(db):
    db.add(make(1, fitness=2.0))
    db.add(make(2, fitness=5.0, island=1))
    db.add(make(3, status="invalid"))
    db.add(make(4, fitness=2.0))
    db.add(make(5, fitness=7.0))
    assert [p.id for p in db.top(10)] == [5, 2, 1, 4]
    assert [p.id for p in db.top(2)] == [5, 2]
    assert [p.id for p in db.top(10, island=0)] == [5, 1, 4]
    assert db.fitness_range() == (2.0, 7.0)


def test_a_cell_keeps_its_best_program_and_the_oldest_on_ties(db):
    db.add(make(1, fitness=3.0, cell=(1, 1)))
    db.add(make(2, fitness=3.0, cell=(1, 1)))            # tie: the older stays
    db.add(make(3, fitness=9.0, cell=(1, 1), island=1))  # other island
    db.add(make(4, status="error", cell=(2, 0)))          # invalid: never an elite
    db.add(make(5, fitness=1.0, cell=(0, 4)))
    assert {c: p.id for c, p in db.elites(0).items()} == {(0, 4): 5, (1, 1): 1}
    assert list(db.elites(0)) == [(0, 4), (1, 1)]
    db.add(make(6, fitness=4.0, cell=(1, 1)))
    assert db.elites(0)[(1, 1)].id == 6
    assert {c: p.id for c, p in db.elites(1).items()} == {(1, 1): 3}
    assert db.elite_ids(0) == {(0, 4): 5, (1, 1): 6}
    assert db.check() == []


def test_update_metrics_merges_and_moves_the_elite(db):
    db.add(make(1, fitness=5.0, cell=(2, 2)))
    db.add(make(2, fitness=4.0, cell=(2, 2)))
    updated = db.update_metrics(1, {"train": {"w": {"runtime_s": 0.01}}, "holdout": {"h": {"score": 3.0}}},
                                fitness=3.5)
    expected = {"train": {"w": {"balance": 0.5, "score": 5.0, "runtime_s": 0.01}}, "holdout": {"h": {"score": 3.0}}}
    assert updated.metrics == expected and updated.fitness == 3.5
    assert db.get(1).metrics == expected and db.get(1).fitness == 3.5
    assert db.elites(0)[(2, 2)].id == 2
    db.update_metrics(2, {"holdout": {"h": {"score": 1.0}}})
    assert db.get(2).fitness == 4.0 and db.get(2).metrics["holdout"] == {"h": {"score": 1.0}}
    assert db.check() == []


def test_invalid_programs_and_fitness_are_refused_and_nothing_is_stored(db):
    db.add(make(1, status="invalid"))
    cases = [(make(2, status="crashed"), "status 'crashed'"), (make(3, fitness=float("nan")), "finite fitness"),
             (dataclasses.replace(make(4, status="error"), fitness=1.0), "error program has no fitness"),
             (make(5, origin={"kind": "magic"}), "origin kind 'magic'")]
    for program, message in cases:
        with pytest.raises(ValueError, match=message):
            db.add(program)
    with pytest.raises(ValueError, match="only a valid program"):
        db.update_metrics(1, {}, fitness=2.0)
    with pytest.raises(ValueError, match="status 'crashed'"):
        db.add_many([make(6), make(7, status="crashed")])
    assert db.count() == 1


def test_meta_values_and_checkpoints_are_json_and_atomic_with_programs(db):
    assert db.get_meta("iteration") is None and db.get_meta("iteration", 0) == 0
    db.set_meta("config", {"islands": 3, "features": ["code_length", "score"]})
    db.set_meta_many({"iteration": 4, "spent_usd": 0.25})
    db.add(make(1), meta={"iteration": 5})
    db.add_attempt(6, 1, 0, "duplicate", meta={"iteration": 6})
    assert db.get_meta("config") == {"islands": 3, "features": ["code_length", "score"]}
    assert (db.get_meta("iteration"), db.get_meta("spent_usd")) == (6, 0.25)
    with pytest.raises(TypeError):
        db.add(make(2), meta={"iteration": object()})
    assert db.count() == 1 and db.get_meta("iteration") == 6  # the failed write left nothing behind


def test_rng_state_survives_the_database(tmp_path):
    rng = random.Random(7)
    rng.random()
    path = str(tmp_path / "programs.db")
    with Database(path) as db:
        db.set_meta("rng", dump_rng(rng))
    with Database(path) as db:
        restored = load_rng(db.get_meta("rng"))
    assert [restored.random() for _ in range(5)] == [rng.random() for _ in range(5)]


def test_attempts_and_totals_count_llm_usage_once(db):
    db.add(make(1, tokens_in=100, tokens_out=10, cost_usd=0.5))
    db.add(make(2, status="invalid", tokens_in=50, tokens_out=5, cost_usd=0.25))
    first = db.add_attempt(3, 1, 0, "duplicate child", "P", "R", "m1", 30, 3, 0.125)
    second = db.add_attempt(4, None, 2, "LLM error: timeout")
    assert (first, second) == (1, 2)
    assert db.attempts() == [Attempt(1, 3, 1, 0, "duplicate child", "P", "R", "m1", 30, 3, 0.125),
                             Attempt(2, 4, None, 2, "LLM error: timeout", None, None, None, 0, 0, 0.0)]
    assert db.totals() == {"programs": 2, "valid": 1, "attempts": 2, "tokens_in": 180, "tokens_out": 18,
                           "cost_usd": 0.875}


def test_empty_database_totals(db):
    assert db.totals() == {"programs": 0, "valid": 0, "attempts": 0, "tokens_in": 0, "tokens_out": 0,
                           "cost_usd": 0.0}
    assert db.first() is None and db.fitness_range() is None and db.top(3) == [] and db.elites(0) == {}


def test_reopening_keeps_everything_in_wal_mode(tmp_path):
    path = str(tmp_path / "programs.db")
    with Database(path) as db:
        stored = db.add(make(1, cell=(3, 1)))
        db.set_meta("iteration", 1)
    with Database(path, create=False) as db:
        assert db.get(1) == stored and db.get_meta("iteration") == 1 and db.elites(0) == {(3, 1): stored}
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 1
    raw.close()


def test_bad_files_are_clear_input_errors(tmp_path):
    not_db = tmp_path / "notes.db"
    not_db.write_text("these are my notes\n" * 100)
    with pytest.raises(DatabaseError, match=rf"^{not_db}: not a program database \(file is not a database\); "):
        Database(str(not_db))
    other = tmp_path / "other.db"
    raw = sqlite3.connect(str(other))
    raw.execute("CREATE TABLE t (x)")
    raw.commit()
    raw.close()
    with pytest.raises(DatabaseError, match="an SQLite file, but not an adrs-spec program database"):
        Database(str(other))
    newer = str(tmp_path / "newer.db")
    Database(newer).close()
    raw = sqlite3.connect(newer)
    raw.execute("PRAGMA user_version=2")
    raw.commit()
    raw.close()
    with pytest.raises(DatabaseError, match="schema version 2, this adrs-spec reads version 1; resume it with"):
        Database(newer)
    with pytest.raises(DatabaseError, match="no program database here"):
        Database(str(tmp_path / "missing.db"), create=False)
    with pytest.raises(DatabaseError, match="cannot open the program database"):
        Database(str(tmp_path / "no-such-folder" / "programs.db"))
    assert issubclass(DatabaseError, InputError)


def test_another_thread_cannot_use_the_connection(db):
    errors = []
    worker = threading.Thread(target=lambda: errors.append(_capture(lambda: db.count())))
    worker.start()
    worker.join()
    assert isinstance(errors[0], sqlite3.ProgrammingError)


def _capture(call):
    try:
        call()
    except Exception as err:  # noqa: BLE001 - the test inspects it
        return err
    return None


HOLDER = textwrap.dedent("""
    import sys
    from adrs_spec.runtime.database import Database
    db = Database(sys.argv[1])
    db.acquire_writer()
    print("holding", flush=True)
    sys.stdin.read()
""")


def test_a_second_writer_process_is_refused_until_the_first_exits(tmp_path):
    path = str(tmp_path / "programs.db")
    Database(path).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline() == "holding\n"
        with Database(path) as db:
            with pytest.raises(DatabaseError, match=rf"^{tmp_path}: run directory is in use by pid {holder.pid} "):
                db.acquire_writer()
            assert db.count() == 0  # reading while another process writes is fine
    finally:
        holder.communicate("", timeout=30)
    with Database(path) as db:
        db.acquire_writer()
        db.acquire_writer()  # idempotent in the holder
        with Database(path) as second, pytest.raises(DatabaseError, match=f"in use by pid {os.getpid()}"):
            second.acquire_writer()
        db.release_writer()
        with Database(path) as second:
            second.acquire_writer()


WRITER = textwrap.dedent("""
    import sys
    from adrs_spec.runtime.database import Database, Program
    db = Database(sys.argv[1])
    db.acquire_writer()
    n = 0
    while True:
        n += 1
        status = "valid" if n % 5 else "invalid"
        program = Program(id=None, code=f"x = {n}\\n" * 50, code_hash=f"h{n}", parent_id=n - 1 if n > 1 else None,
                          island=n % 3, generation=n, iteration=n, status=status,
                          fitness=float(n % 17) if status == "valid" else None,
                          metrics={"train": {"w": {"score": n}}}, feedback={"n": n}, cell=(n % 4, n % 2),
                          origin={"kind": "mutator", "model": None, "description": str(n)})
        stored = db.add(program, meta={"iteration": n})
        print(stored.id, flush=True)
""")


def test_sigkill_mid_run_loses_nothing_committed(tmp_path):
    path = str(tmp_path / "programs.db")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, text=True)
    committed = [int(writer.stdout.readline()) for _ in range(300)]
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    assert committed == list(range(1, 301))
    with Database(path) as db:
        assert db.check() == []
        count = db.count()
        assert count >= 300
        assert db.get_meta("iteration") == count  # the checkpoint moved with every program
        for n in range(1, count + 1):
            program = db.get(n)
            assert (program.code, program.parent_id, program.island, program.cell) == \
                   (f"x = {n}\n" * 50, n - 1 if n > 1 else None, n % 3, (n % 4, n % 2))
            assert program.fitness == (float(n % 17) if n % 5 else None)
            assert program.metrics == {"train": {"w": {"score": n}}}
        db.acquire_writer()  # the kernel released the dead writer's lock
        assert db.add(make(count + 1), meta={"iteration": count + 1}).id == count + 1  # and the run goes on
        assert db.check() == []
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


def test_check_reports_an_elite_that_is_not_its_cells_best(tmp_path):
    path = str(tmp_path / "programs.db")
    with Database(path) as db:
        db.add(make(1, fitness=1.0, cell=(0, 0)))
        db.add(make(2, fitness=2.0, cell=(0, 0)))
    raw = sqlite3.connect(path)
    raw.execute("UPDATE elites SET program_id = 1")
    raw.execute("DELETE FROM program_texts WHERE id = 2")
    raw.commit()
    raw.close()
    with Database(path) as db:
        assert db.check() == ["program 2 has no code", "elite of island 0 cell [0,0] is 1, its best program is 2"]


def test_a_full_disk_is_a_clear_error_and_the_database_stays_usable(tmp_path):
    path = str(tmp_path / "programs.db")
    with Database(path) as db:
        db.add(make(1), meta={"iteration": 1})
        pages = db._conn.execute("PRAGMA page_count").fetchone()[0]
        db._conn.execute(f"PRAGMA max_page_count={pages}")  # SQLite's own "disk is full" from here on
        big = make(2, code="x = 2\n" * 20000)
        with pytest.raises(DatabaseError, match=rf"^{path}: cannot write the program database \(database or disk "
                                                r"is full\); the write was rolled back"):
            db.add(big, meta={"iteration": 2})
        assert db.count() == 1 and db.get_meta("iteration") == 1 and db.check() == []
        db._conn.execute("PRAGMA max_page_count=1073741823")
        assert db.add(big, meta={"iteration": 2}).id == 2
    with Database(path) as db:
        assert db.count() == 2 and db.check() == []


def test_a_read_only_folder_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(DatabaseError, match="cannot open the program database .*folder exists and is writable"):
            Database(str(folder / "programs.db"))
    finally:
        folder.chmod(0o700)
