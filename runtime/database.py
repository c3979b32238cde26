"""The program database of an evolution run: one SQLite file in the run directory.

Every evaluated program is committed as it finishes, so a killed run loses at most the
candidates that were in flight, and `evolve --resume` continues from the file alone.

Durability. The file is in WAL mode with `synchronous=NORMAL`: a commit is appended to the
write-ahead log before `commit()` returns, so it survives the death of the process (kill -9,
an OOM kill, Ctrl-C) because the log is already in the operating system's hands. Only a power
loss or an OS crash can roll back the last few commits (the file stays consistent: WAL frames
are checksummed), and a resume then re-evaluates those candidates. `synchronous=FULL`
(`Database(path, durable=True)`) closes that gap too, at the price of one fsync per
candidate, which on a slow or network disk costs as much as the controller's whole budget
per iteration; a run's work is cheap to redo, so NORMAL is the default.

Transactions. Every write method is one committed transaction (`with conn:`); one the file
system refuses (a full disk) is rolled back whole and raised as a DatabaseError. `add`
takes the loop's checkpoint (iteration counter, rng states, spend) in the same transaction
as the program, so a program and the state that produced it are never out of step.

Threads and processes. The loop uses a `Database` from the thread that opened it only
(sqlite3's `check_same_thread` stays on and raises otherwise). Other processes may read the
file at the same time (WAL; a busy timeout covers short write locks); only one process may
write, which `acquire_writer()` enforces with an exclusive lock on the side file `PATH.lock`,
released by the kernel when the writer exits, however it exits.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import random
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from adrs_spec.errors import InputError

SCHEMA_VERSION = 1
APPLICATION_ID = 0x41445253  # "ADRS" in the SQLite header: marks the file as a program database
BUSY_TIMEOUT_S = 10.0
STATUSES = ("valid", "invalid", "error")
ORIGIN_KINDS = ("initial", "llm", "mutator", "migrant")

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE programs (
    id INTEGER PRIMARY KEY,
    code_hash TEXT NOT NULL,
    parent_id INTEGER REFERENCES programs(id),
    island INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    iteration INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('valid', 'invalid', 'error')),
    fitness REAL CHECK ((status = 'valid') = (fitness IS NOT NULL)),
    cell TEXT NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    eval_seconds REAL NOT NULL,
    created_s REAL NOT NULL,
    origin TEXT NOT NULL
);
-- The long texts live apart, written in the same transaction: ranking, drawing and counting
-- then read small rows only (with them inline, one row filled a page and a scan of a few
-- thousand programs took tens of milliseconds).
CREATE TABLE program_texts (
    id INTEGER PRIMARY KEY REFERENCES programs(id),
    code TEXT NOT NULL,
    metrics TEXT NOT NULL,
    feedback TEXT NOT NULL,
    prompt TEXT,
    response TEXT
);
CREATE INDEX programs_by_hash ON programs (code_hash, island);
CREATE INDEX programs_by_fitness ON programs (status, fitness DESC, id);
CREATE INDEX programs_by_island_fitness ON programs (island, status, fitness DESC, id);
CREATE INDEX programs_by_cell ON programs (island, cell, status, fitness DESC, id);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY,
    iteration INTEGER NOT NULL,
    parent_id INTEGER REFERENCES programs(id),
    island INTEGER NOT NULL,
    reason TEXT NOT NULL,
    prompt TEXT,
    response TEXT,
    model TEXT,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    created_s REAL NOT NULL
);
CREATE TABLE elites (
    island INTEGER NOT NULL,
    cell TEXT NOT NULL,
    program_id INTEGER NOT NULL REFERENCES programs(id),
    PRIMARY KEY (island, cell)
);
"""

_ROW_COLUMNS = ("code_hash", "parent_id", "island", "generation", "iteration", "status", "fitness", "cell",
                "tokens_in", "tokens_out", "cost_usd", "eval_seconds", "created_s", "origin")
_TEXT_COLUMNS = ("code", "metrics", "feedback", "prompt", "response")
_JSON_COLUMNS = ("metrics", "feedback", "origin")
_SELECT_PROGRAMS = ("SELECT p.*, t.code, t.metrics, t.feedback, t.prompt, t.response "
                    "FROM programs p JOIN program_texts t ON t.id = p.id")


class DatabaseError(InputError):
    """The program database cannot be used as asked: not a database, another schema version,
    or a run directory another process is writing to. The message names the path and what to do."""


@dataclass(frozen=True)
class Program:
    """One evaluated program, as stored."""

    id: int | None
    code: str
    code_hash: str
    parent_id: int | None
    island: int
    generation: int
    iteration: int
    status: str            # "valid" | "invalid" | "error"
    fitness: float | None  # the training score used for selection (None unless valid)
    metrics: dict          # {"train": {set: {metric: v, "runtime_s": v, "score": v}}, "holdout": {...}}
    feedback: dict         # {"stage", "verdict", "reason", "violations": [str], "failure": {...} | None}
    cell: tuple[int, ...]  # MAP-Elites cell (see select.cell_of)
    origin: dict           # {"kind": "initial"|"llm"|"mutator"|"migrant", "model": str|None, "description": str}
    prompt: str | None = None
    response: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    eval_seconds: float = 0.0
    created_s: float = 0.0


@dataclass(frozen=True)
class ProgramRef:
    """The columns selection ranks and draws on, without the code and JSON: cheap to list."""

    id: int
    island: int
    code_hash: str
    status: str
    fitness: float | None


@dataclass(frozen=True)
class Attempt:
    """A rejected child (duplicate, unparsable, failed edit, LLM error), kept for accounting."""

    id: int
    iteration: int
    parent_id: int | None
    island: int
    reason: str
    prompt: str | None
    response: str | None
    model: str | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    created_s: float = field(default=0.0, compare=False)


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_plain)  # key order kept: sets stay in spec order


def _plain(value: Any) -> Any:
    """numpy scalars and arrays (and anything else with .tolist/.item) as plain JSON values."""
    for method in ("tolist", "item"):
        if hasattr(value, method):
            return getattr(value, method)()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def cell_key(cell: Iterable[int]) -> str:
    """The text form of a cell in the database: a compact JSON list, e.g. `[4,0]`."""
    return json.dumps([int(c) for c in cell], separators=(",", ":"))


def _merge(base: dict, update: dict) -> dict:
    """Nested dict merge: `update` wins leaf by leaf, keys absent from it are kept."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def dump_rng(rng: random.Random) -> list:
    """A `random.Random` state as a JSON value for `set_meta`."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def load_rng(state: list) -> random.Random:
    """The `random.Random` saved by `dump_rng`, in the same state."""
    rng = random.Random()
    rng.setstate((state[0], tuple(state[1]), state[2]))
    return rng


def _check_program(program: Program) -> None:
    """Reject programs the rest of the runtime could not use (a bug of the caller, not of the user)."""
    if program.status not in STATUSES:
        raise ValueError(f"program status {program.status!r} is not one of {', '.join(STATUSES)}")
    if program.status == "valid":
        if program.fitness is None or not math.isfinite(program.fitness):
            raise ValueError(f"a valid program needs a finite fitness, got {program.fitness!r}")
    elif program.fitness is not None:
        raise ValueError(f"a {program.status} program has no fitness, got {program.fitness!r}")
    if program.origin.get("kind") not in ORIGIN_KINDS:
        raise ValueError(f"program origin kind {program.origin.get('kind')!r} is not one of {', '.join(ORIGIN_KINDS)}")


class Database:
    """The program store of one run. See the module docstring for durability and threads."""

    def __init__(self, path: str, *, create: bool = True, durable: bool = False) -> None:
        self.path = str(path)
        self._lock_fd: int | None = None
        if not create and not os.path.exists(self.path):
            raise DatabaseError(f"{self.path}: no program database here; check the run directory, "
                                "or start a new run without --resume")
        try:
            self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as err:
            raise DatabaseError(f"{self.path}: cannot open the program database ({err}); "
                                "check that the folder exists and is writable") from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._open(durable)
        except BaseException:
            self._conn.close()
            raise

    def _open(self, durable: bool) -> None:
        try:
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.OperationalError as err:
            raise DatabaseError(f"{self.path}: cannot open the program database ({err}); "
                                "check that the folder exists and is writable") from None
        except sqlite3.DatabaseError as err:
            raise DatabaseError(f"{self.path}: not a program database ({err}); point to the run "
                                "directory's database, or move this file away") from None
        if mode.lower() != "wal":
            raise DatabaseError(f"{self.path}: cannot switch the database to WAL mode (got {mode!r}); "
                                "put the run directory on a local file system")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._conn.execute("PRAGMA foreign_keys=ON")
        with self._transaction():
            self._conn.execute("BEGIN IMMEDIATE")
            self._check_or_create_schema()

    def _check_or_create_schema(self) -> None:
        app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        tables = self._conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app_id == 0 and version == 0 and tables == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif app_id != APPLICATION_ID:
            raise DatabaseError(f"{self.path}: an SQLite file, but not an adrs-spec program database; "
                                "choose another run directory or move this file away")
        elif version != SCHEMA_VERSION:
            raise DatabaseError(f"{self.path}: program database of schema version {version}, this adrs-spec "
                                f"reads version {SCHEMA_VERSION}; resume it with the adrs-spec version that "
                                "wrote it, or start a new run directory")

    # -- one writer per run -----------------------------------------------------------------

    def acquire_writer(self) -> None:
        """Become the only writing process of this database, or raise DatabaseError naming the pid
        that is. The lock is an exclusive flock on `PATH.lock`; the kernel drops it when this
        process ends, so a killed run never leaves a stale lock behind."""
        if self._lock_fd is not None:
            return
        lock_path = self.path + ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)  # never inherited by workers
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            run_dir = os.path.dirname(os.path.abspath(self.path))
            raise DatabaseError(f"{run_dir}: run directory is in use by pid {holder} (it holds {lock_path}); "
                                "wait for that run to finish or stop it, or choose another run directory") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd

    def release_writer(self) -> None:
        """Give up the writer lock (close() does it too)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor releases the flock
            self._lock_fd = None

    def close(self) -> None:
        self.release_writer()
        self._conn.close()

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One committed transaction; a write the file system refuses (a full disk, a read-only
        folder, a lock held too long) is rolled back whole and becomes a DatabaseError."""
        try:
            with self._conn:
                yield
        except sqlite3.OperationalError as err:
            raise DatabaseError(f"{self.path}: cannot write the program database ({err}); the write was "
                                "rolled back and the database is consistent: free disk space or fix the "
                                "folder's permissions, then resume the run") from None

    # -- meta -------------------------------------------------------------------------------

    def set_meta(self, key: str, value: Any) -> None:
        """Store a JSON value under `key` (one transaction)."""
        with self._transaction():
            self._put_meta({key: value})

    def set_meta_many(self, values: dict[str, Any]) -> None:
        """Store several meta values in one transaction (a checkpoint)."""
        with self._transaction():
            self._put_meta(values)

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def _put_meta(self, values: dict[str, Any]) -> None:
        self._conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?) "
                               "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                               [(k, _to_json(v)) for k, v in values.items()])

    # -- writes -----------------------------------------------------------------------------

    def add(self, program: Program, *, meta: dict[str, Any] | None = None) -> Program:
        """Store `program` (its id is ignored) and update its island's MAP-Elites cell; with
        `meta`, also store those meta values, all in one transaction. Returns it with its id."""
        return self.add_many([program], meta=meta)[0]

    def add_many(self, programs: list[Program], *, meta: dict[str, Any] | None = None) -> list[Program]:
        """Store several programs (and `meta`) in one transaction, e.g. a round of migration."""
        for program in programs:
            _check_program(program)
        stored = []
        with self._transaction():
            for program in programs:
                stored.append(self._insert(program))
            if meta:
                self._put_meta(meta)
        return stored

    def _insert(self, program: Program) -> Program:
        program = dataclasses.replace(  # plain Python numbers, whatever array library computed them
            program, created_s=float(program.created_s or time.time()), cell=tuple(int(c) for c in program.cell),
            fitness=None if program.fitness is None else float(program.fitness), tokens_in=int(program.tokens_in),
            tokens_out=int(program.tokens_out), cost_usd=float(program.cost_usd),
            eval_seconds=float(program.eval_seconds))
        values = {c: getattr(program, c) for c in _ROW_COLUMNS + _TEXT_COLUMNS}
        values.update({c: _to_json(values[c]) for c in _JSON_COLUMNS}, cell=cell_key(program.cell))
        cursor = self._conn.execute(f"INSERT INTO programs ({', '.join(_ROW_COLUMNS)}) "
                                    f"VALUES ({', '.join('?' * len(_ROW_COLUMNS))})", [values[c] for c in _ROW_COLUMNS])
        self._conn.execute(f"INSERT INTO program_texts (id, {', '.join(_TEXT_COLUMNS)}) "
                           f"VALUES (?, {', '.join('?' * len(_TEXT_COLUMNS))})",
                           [cursor.lastrowid, *(values[c] for c in _TEXT_COLUMNS)])
        self._refresh_elite(program.island, program.cell)
        as_read = {c: json.loads(values[c]) for c in _JSON_COLUMNS}  # what get() will return
        return dataclasses.replace(program, id=cursor.lastrowid, **as_read)

    def _refresh_elite(self, island: int, cell: tuple[int, ...]) -> None:
        """The elite of (island, cell) is its valid program of highest fitness, the oldest on ties."""
        key = cell_key(cell)
        best = self._conn.execute("SELECT id FROM programs WHERE island = ? AND cell = ? AND status = 'valid' "
                                  "ORDER BY fitness DESC, id ASC LIMIT 1", (island, key)).fetchone()
        if best is None:
            self._conn.execute("DELETE FROM elites WHERE island = ? AND cell = ?", (island, key))
        else:
            self._conn.execute("INSERT INTO elites (island, cell, program_id) VALUES (?, ?, ?) "
                               "ON CONFLICT (island, cell) DO UPDATE SET program_id = excluded.program_id",
                               (island, key, best[0]))

    def add_attempt(self, iteration: int, parent_id: int | None, island: int, reason: str,
                    prompt: str | None = None, response: str | None = None, model: str | None = None,
                    tokens_in: int = 0, tokens_out: int = 0, cost_usd: float = 0.0, *,
                    meta: dict[str, Any] | None = None) -> int:
        """Record a rejected child (and `meta`, in the same transaction); returns its id."""
        with self._transaction():
            cursor = self._conn.execute(
                "INSERT INTO attempts (iteration, parent_id, island, reason, prompt, response, model, "
                "tokens_in, tokens_out, cost_usd, created_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (iteration, parent_id, island, reason, prompt, response, model, tokens_in, tokens_out,
                 cost_usd, time.time()))
            if meta:
                self._put_meta(meta)
        return cursor.lastrowid

    def update_metrics(self, program_id: int, metrics: dict, fitness: float | None = None) -> Program:
        """Merge `metrics` into a program's (a re-measure, holdout results); with `fitness`, also
        replace its fitness (valid programs only) and refresh its cell's elite."""
        program = self.get(program_id)
        if fitness is not None and (program.status != "valid" or not math.isfinite(fitness)):
            raise ValueError(f"program {program_id} is {program.status}; only a valid program takes a "
                             f"finite fitness, got {fitness!r}")
        merged = _merge(program.metrics, metrics)
        new_fitness = program.fitness if fitness is None else float(fitness)
        with self._transaction():
            self._conn.execute("UPDATE programs SET fitness = ? WHERE id = ?", (new_fitness, program_id))
            self._conn.execute("UPDATE program_texts SET metrics = ? WHERE id = ?", (_to_json(merged), program_id))
            self._refresh_elite(program.island, program.cell)
        return dataclasses.replace(program, metrics=merged, fitness=new_fitness)

    # -- reads ------------------------------------------------------------------------------

    def get(self, program_id: int) -> Program:
        row = self._conn.execute(f"{_SELECT_PROGRAMS} WHERE p.id = ?", (program_id,)).fetchone()
        if row is None:
            raise KeyError(f"no program {program_id} in {self.path}")
        return _program(row)

    def first(self) -> Program | None:
        """The oldest program (the initial one), or None when the database is empty."""
        row = self._conn.execute(f"{_SELECT_PROGRAMS} ORDER BY p.id LIMIT 1").fetchone()
        return None if row is None else _program(row)

    def first_of_kind(self, kind: str, island: int | None = None) -> Program | None:
        """The oldest program whose origin is of `kind` (on `island`, when given)."""
        where, args = _filters(island=island)
        rows = self._conn.execute(f"SELECT p.id, p.origin FROM programs p {where} ORDER BY p.id", args)
        for program_id, origin in rows:
            if json.loads(origin).get("kind") == kind:
                return self.get(program_id)
        return None

    def programs(self, island: int | None = None, status: str | None = None) -> list[Program]:
        """Programs in id order, optionally of one island and/or one status."""
        where, args = _filters(island=island, status=status)
        rows = self._conn.execute(f"{_SELECT_PROGRAMS} {where} ORDER BY p.id", args)
        return [_program(r) for r in rows]

    def refs(self, island: int | None = None, status: str | None = None) -> list[ProgramRef]:
        """`programs()` without code and JSON, in id order: what a selection draws from."""
        where, args = _filters(island=island, status=status)
        rows = self._conn.execute(f"SELECT p.id, p.island, p.code_hash, p.status, p.fitness FROM programs p {where} "
                                  "ORDER BY p.id", args)
        return [ProgramRef(*row) for row in rows]

    def metrics_column(self, status: str | None = None) -> list[dict]:
        """Every program's metrics (of one status), in id order."""
        where, args = _filters(status=status)
        rows = self._conn.execute(f"SELECT t.metrics FROM programs p JOIN program_texts t ON t.id = p.id {where} "
                                  "ORDER BY p.id", args)
        return [json.loads(r[0]) for r in rows]

    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM programs").fetchone()[0]

    def has_hash(self, code_hash: str, island: int | None = None) -> bool:
        """Is a program with this code hash stored (on `island`, when given)?"""
        where, args = _filters(code_hash=code_hash, island=island)
        return self._conn.execute(f"SELECT 1 FROM programs p {where} LIMIT 1", args).fetchone() is not None

    def top(self, n: int, island: int | None = None) -> list[Program]:
        """The n valid programs of highest fitness (of `island`, when given), oldest first on ties."""
        where, args = _filters(island=island, status="valid")
        rows = self._conn.execute(f"{_SELECT_PROGRAMS} {where} ORDER BY p.fitness DESC, p.id ASC LIMIT ?",
                                  (*args, n))
        return [_program(r) for r in rows]

    def fitness_range(self) -> tuple[float, float] | None:
        """(lowest, highest) fitness of the valid programs, None when there is none."""
        low, high = self._conn.execute(
            "SELECT min(fitness), max(fitness) FROM programs WHERE status = 'valid'").fetchone()
        return None if low is None else (low, high)

    def elites(self, island: int) -> dict[tuple[int, ...], Program]:
        """The island's MAP-Elites archive: cell -> its best program, in cell order."""
        rows = self._conn.execute(f"{_SELECT_PROGRAMS} JOIN elites e ON e.program_id = p.id WHERE e.island = ?",
                                  (island,))
        found = {program.cell: program for program in map(_program, rows)}
        return dict(sorted(found.items()))

    def elite_ids(self, island: int) -> dict[tuple[int, ...], int]:
        """`elites()` as cell -> program id, in cell order."""
        rows = self._conn.execute("SELECT cell, program_id FROM elites WHERE island = ?", (island,))
        return dict(sorted((tuple(json.loads(cell)), program_id) for cell, program_id in rows))

    def attempts(self) -> list[Attempt]:
        rows = self._conn.execute("SELECT * FROM attempts ORDER BY id")
        return [Attempt(**dict(r)) for r in rows]

    def totals(self) -> dict[str, float]:
        """Counts and LLM usage over programs and rejected attempts together."""
        programs, valid, p_in, p_out, p_cost = self._conn.execute(
            "SELECT count(*), coalesce(sum(status = 'valid'), 0), coalesce(sum(tokens_in), 0), "
            "coalesce(sum(tokens_out), 0), coalesce(sum(cost_usd), 0.0) FROM programs").fetchone()
        attempts, a_in, a_out, a_cost = self._conn.execute(
            "SELECT count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), "
            "coalesce(sum(cost_usd), 0.0) FROM attempts").fetchone()
        return {"programs": programs, "valid": valid, "attempts": attempts, "tokens_in": p_in + a_in,
                "tokens_out": p_out + a_out, "cost_usd": p_cost + a_cost}

    def check(self) -> list[str]:
        """Consistency problems, none when the file is sound: SQLite's integrity and foreign-key
        checks, and every elite being the best valid program of its (island, cell)."""
        problems = [r[0] for r in self._conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
        problems += [f"{r[0]} row {r[1]} points to a missing {r[2]}"
                     for r in self._conn.execute("PRAGMA foreign_key_check")]
        problems += [f"program {r[0]} has no code" for r in self._conn.execute(
            "SELECT p.id FROM programs p LEFT JOIN program_texts t ON t.id = p.id WHERE t.id IS NULL")]
        cells = self._conn.execute("SELECT DISTINCT island, cell FROM programs WHERE status = 'valid' "
                                   "UNION SELECT island, cell FROM elites").fetchall()
        for island, key in cells:
            best = self._conn.execute("SELECT id FROM programs WHERE island = ? AND cell = ? AND status = 'valid' "
                                      "ORDER BY fitness DESC, id ASC LIMIT 1", (island, key)).fetchone()
            elite = self._conn.execute("SELECT program_id FROM elites WHERE island = ? AND cell = ?",
                                       (island, key)).fetchone()
            if (best and best[0]) != (elite and elite[0]):
                problems.append(f"elite of island {island} cell {key} is {elite and elite[0]}, "
                                f"its best program is {best and best[0]}")
        return problems


def _filters(**conditions: Any) -> tuple[str, tuple]:
    """A WHERE clause over the conditions that are not None."""
    used = {k: v for k, v in conditions.items() if v is not None}
    if not used:
        return "", ()
    return "WHERE " + " AND ".join(f"p.{k} = ?" for k in used), tuple(used.values())


def _program(row: sqlite3.Row) -> Program:
    values = dict(row)
    for column in _JSON_COLUMNS:
        values[column] = json.loads(values[column])
    values["cell"] = tuple(json.loads(values["cell"]))
    return Program(**values)
