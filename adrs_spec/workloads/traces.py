"""Trace files that replace a workload's generated trace: `.npz`, `.csv` and vLLM expert-load JSON.

Every reader returns a float64 array and raises `InputError` naming the file, the place
that broke (key, line and column, or record index) and what to do about it.
"""
from __future__ import annotations

import csv
import json
import math
import re
import zipfile

import numpy as np

from adrs_spec.errors import InputError

# ---- npz ----


def load_npz(path: str, key: str | None = None) -> np.ndarray:
    """The array stored under `key`, or the file's only array when `key` is None."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{path}: not a readable .npz file ({err}); save traces with numpy.savez") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise InputError(f"{path}: holds a single .npy array, not an .npz archive; save it with numpy.savez")
    with archive:
        keys = list(archive.files)
        if key is None:
            if len(keys) != 1:
                listed = ", ".join(keys) if keys else "none"
                raise InputError(f"{path}: holds {len(keys)} arrays ({listed}); name the one to use")
            key = keys[0]
        if key not in keys:
            raise InputError(f"{path}: no array `{key}`; the arrays are {', '.join(keys) or 'none'}")
        try:
            array = archive[key]
        except ValueError as err:
            raise InputError(f"{path}: array `{key}` cannot be read without pickle ({err}); store numbers") from None
    if array.dtype.kind not in "iuf":
        raise InputError(f"{path}: array `{key}` has dtype {array.dtype}; a trace holds numbers")
    return array.astype(np.float64)


# ---- csv ----


def _number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def load_csv(path: str) -> np.ndarray:
    """A numeric CSV, one record per row: shape (records, columns), or (records,) for one column.

    The first row may be a header (a row with no number in it). Blank lines are skipped.
    """
    rows: list[list[float]] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            for cells in reader:
                if not cells or all(not c.strip() for c in cells):
                    continue
                values = [_number(c.strip()) for c in cells]
                if not rows and all(v is None for v in values):
                    continue                                    # the header
                if None in values:
                    col = values.index(None)
                    raise InputError(f"{path}: line {reader.line_num}, column {col + 1}: {cells[col].strip()!r} "
                                     f"is not a finite number; every cell after the header must be one")
                if rows and len(values) != len(rows[0]):
                    raise InputError(f"{path}: line {reader.line_num} has {len(values)} column(s), but the first "
                                     f"record has {len(rows[0])}; give every record the same columns")
                rows.append(values)
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a text file ({err}); give a UTF-8 CSV of numbers") from None
    if not rows:
        raise InputError(f"{path}: no records; give one row of numbers per record")
    array = np.asarray(rows, dtype=np.float64)
    return array[:, 0] if array.shape[1] == 1 else array


# ---- vLLM expert-load JSON, streamed ----

CHUNK_CHARS = 1 << 20
RECORD_KEYS = ("logical_expert_load", "load", "expert_load", "expert_load_pass", "loads")
_SPACE = re.compile(r"[ \t\n\r]*")
_SLACK = 64      # a decode error this close to the end of the buffer may just be a cut in the data


class _Truncated(Exception):
    pass


class _Malformed(Exception):
    pass


class _Scanner:
    """Reads JSON values one at a time from a text file, holding about one chunk in memory."""

    def __init__(self, f):
        self.f, self.buf, self.pos, self.eof = f, "", 0, False
        self.decoder = json.JSONDecoder()

    def _fill(self, want: int | None = None) -> bool:
        if self.eof:
            return False
        chunk = self.f.read(want or CHUNK_CHARS)
        if not chunk:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + chunk
        self.pos = 0
        return True

    def peek(self) -> str:
        """The next non-space character ('' at the end of the file), not consumed."""
        while True:
            self.pos = _SPACE.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def take(self, chars: str) -> str:
        c = self.peek()
        if not c:
            raise _Truncated()
        if c not in chars:
            raise _Malformed(f"expected {' or '.join(repr(x) for x in chars)} but found {c!r}")
        self.pos += 1
        return c

    def value(self):
        """The next JSON value, reading more of the file until it is complete."""
        if not self.peek():
            raise _Truncated()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as err:
                open_string = err.msg.startswith("Unterminated string")
                if (err.pos >= len(self.buf) - _SLACK or open_string) and \
                        self._fill(max(CHUNK_CHARS, len(self.buf) - self.pos)):
                    continue
                if self.eof and (err.pos >= len(self.buf) or open_string):
                    raise _Truncated() from None
                raise _Malformed(f"{err.msg} at character {err.pos - self.pos} of it") from None
            if end == len(self.buf) and self._fill():      # a number may go on in the next chunk
                continue
            self.pos = end
            return obj


def _find_load_history(scan: _Scanner, path: str) -> None:
    """Move the scanner into the `load_history` array of the top-level object."""
    first = scan.peek()
    if first != "{":
        raise InputError(f"{path}: not a vLLM expert-load file: it should be a JSON object with a "
                         f"`load_history` list, but it starts with {first!r}")
    scan.pos += 1
    keys = []
    while scan.peek() != "}":
        if keys:
            scan.take(",")
        key = scan.value()
        scan.take(":")
        if key == "load_history":
            scan.take("[")
            return
        keys.append(str(key))
        scan.value()
    raise InputError(f"{path}: no `load_history` key (the top-level keys are {', '.join(keys) or 'none'}); "
                     f"record the expert load with vLLM's expert-load logging")


def _record_array(record, index: int, path: str) -> np.ndarray:
    """One forward pass's [layers][experts] token counts, checked."""
    where = f"{path}: record {index} of load_history (counting from 0)"
    if isinstance(record, dict):
        found = [k for k in RECORD_KEYS if k in record]
        if not found:
            raise InputError(f"{where} is an object without a {' / '.join(RECORD_KEYS)} key "
                             f"(its keys: {', '.join(map(str, record)) or 'none'})")
        record = record[found[0]]
    try:
        array = np.asarray(record)
    except ValueError:
        raise InputError(f"{where} is ragged: its layers do not all have the same number of experts") from None
    if array.ndim != 2 or array.dtype.kind not in "iuf" or array.size == 0:
        kind = "numbers" if array.dtype.kind in "iuf" else f"non-numeric values ({array.dtype})"
        raise InputError(f"{where} has shape {array.shape} of {kind}; each record must be a non-empty "
                         f"[layers][experts] list of token counts")
    array = array.astype(np.float64)
    if not np.isfinite(array).all() or (array < 0).any():
        bad = tuple(int(i) for i in np.argwhere(~(np.isfinite(array) & (array >= 0)))[0])
        raise InputError(f"{where}: entry {list(bad)} is {array[bad]}; token counts must be finite and >= 0")
    return array


def _stream_records(scan: _Scanner, path: str):
    """Yield (index, array) for each record of the `load_history` array."""
    index = 0
    try:
        if scan.peek() == "]":
            return
        while True:
            yield index, _record_array(scan.value(), index, path)
            index += 1
            if scan.take(",]") == "]":
                return
    except _Truncated:
        raise InputError(f"{path}: the file ends inside `load_history` at record {index} (counting from 0); "
                         f"the file looks truncated: copy it again") from None
    except _Malformed as err:
        raise InputError(f"{path}: record {index} of load_history (counting from 0) is not valid JSON: "
                         f"{err}") from None


def load_vllm_expert_load(path: str, window: int = 100) -> np.ndarray:
    """vLLM expert-load history as window sums, shape (windows, layers, experts), float64.

    The file is a JSON object whose `load_history` key holds a list of records, one per
    forward pass. A record is the pass's token counts as a [layers][experts] list, or an
    object holding that list under `logical_expert_load` (what a vLLM server records),
    `load`, `expert_load`, `expert_load_pass` or `loads`.
    Every `window` consecutive records are summed into one window; a trailing partial
    window is dropped. The file is read incrementally: memory holds about one chunk of
    text, one record and the window sums, never the whole file.
    """
    if window < 1:
        raise InputError(f"window = {window}: a window holds at least 1 forward pass")
    windows: list[np.ndarray] = []
    current = None
    shape = None
    count = 0
    try:
        with open(path, encoding="utf-8") as f:
            scan = _Scanner(f)
            try:
                _find_load_history(scan, path)
            except (_Truncated, _Malformed):
                raise InputError(f"{path}: not valid JSON before the `load_history` list; give vLLM's "
                                 f"expert-load JSON file") from None
            for index, array in _stream_records(scan, path):
                if shape is None:
                    shape = array.shape
                elif array.shape != shape:
                    raise InputError(f"{path}: record {index} of load_history (counting from 0) has "
                                     f"{array.shape[0]} layers x {array.shape[1]} experts, but record 0 has "
                                     f"{shape[0]} x {shape[1]}; every record must have the same shape")
                if index % window == 0:
                    current = np.zeros(shape)
                current += array
                if index % window == window - 1:
                    windows.append(current)
                count = index + 1
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a text file ({err}); give vLLM's expert-load JSON file") from None
    if len(windows) < 2:
        raise InputError(f"{path}: {count} records with {window} per window make {len(windows)} full window(s); "
                         f"at least 2 are needed (one observed, one scored): record more forward passes or "
                         f"lower the window")
    return np.stack(windows)
