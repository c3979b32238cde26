"""Trace files that replace a workload's generated trace: `.npz`, `.csv` and vLLM expert-load JSON.

Every reader returns a float64 array and raises `InputError` naming the file, the place
that broke (key, line and column, or record index) and what to do about it. Nothing in a
file can make a reader allocate more than the file's own size (an .npz member's header is
checked against the bytes it holds) or recurse without bound (JSON nesting), and
`check_values` refuses values a load cannot have before any policy sees them.
"""
from __future__ import annotations

import csv
import json
import lzma
import math
import re
import zipfile
import zlib

import numpy as np

from adrs_spec.errors import InputError

FLOAT32 = np.finfo(np.float32)
# What reading a damaged archive raises: a bad zip structure, a corrupt compressed stream, a
# compression method or encryption zipfile does not support, a truncated member.
ARCHIVE_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, lzma.LZMAError,
                  NotImplementedError, RuntimeError)


# ---- values ----


def check_values(array: np.ndarray, path: str, loads: bool = True) -> None:
    """A trace holds finite numbers within float32 (the evaluator's default precision), not
    subnormal there. A trace of loads (token counts, request rates; `loads`) also holds no
    negative value and no window (a slice along the first axis) all zero, for which there is
    no balance to score; other traces are checked against the instance block's declared
    constraints when the workload is built."""
    if array.size == 0:
        raise InputError(f"{path}: the trace holds no values (shape {array.shape})")
    magnitude = np.abs(array) if not loads else array
    problems = (
        (~np.isfinite(array), "is not a finite number"),
        (array < 0 if loads else np.zeros(array.shape, bool),
         "is negative; a trace holds loads (token counts), which are >= 0"),
        (magnitude > FLOAT32.max, f"is beyond float32 (at most {float(FLOAT32.max):.4g}), in which the evaluator "
                                  f"computes; scale the trace down"),
        ((magnitude > 0) & (magnitude < FLOAT32.tiny), f"is subnormal in float32 (below {float(FLOAT32.tiny):.4g}), in "
                                               f"which the evaluator computes; round it to 0 or scale the trace up"),
    )
    for bad, why in problems:
        if bad.any():
            at = [int(i) for i in np.argwhere(bad)[0]]
            raise InputError(f"{path}: the value at {at} is {float(array[tuple(at)])!r}: it {why}")
    if not loads:
        return
    windows = array.reshape(len(array), -1).sum(axis=1) if array.ndim > 1 else np.array([array.sum()])
    if not windows.all():
        where = f"window {int(np.argmin(windows != 0))} (counting from 0)" if array.ndim > 1 else "the trace"
        raise InputError(f"{path}: {where} is all zeros; every window needs some load to be scored on")


# ---- npz ----

NPY_MAGIC = b"\x93NUMPY"


def load_npz(path: str, key: str | None = None) -> np.ndarray:
    """The array stored under `key`, or the file's only array when `key` is None.

    Read member by member with zipfile: a member that is not a .npy array, or whose header
    declares more data than the member holds, is refused before anything is allocated."""
    with open(path, "rb") as fh:
        if fh.read(len(NPY_MAGIC)) == NPY_MAGIC:
            raise InputError(f"{path}: holds a single .npy array, not an .npz archive; save it with numpy.savez")
    try:
        archive = zipfile.ZipFile(path)
    except ARCHIVE_ERRORS as err:
        raise InputError(f"{path}: not a readable .npz file ({err}); save traces with numpy.savez") from None
    with archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        if key is None:
            if len(members) != 1:
                listed = ", ".join(members) if members else "none"
                raise InputError(f"{path}: holds {len(members)} arrays ({listed}); name the one to use")
            key = next(iter(members))
        if key not in members:
            raise InputError(f"{path}: no array `{key}`; the arrays are {', '.join(members) or 'none'}")
        try:
            array = _read_member(archive, members[key], path, key)
        except ARCHIVE_ERRORS as err:
            raise InputError(f"{path}: array `{key}` cannot be read ({err}); save traces with numpy.savez") from None
    return array.astype(np.float64)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, key: str) -> np.ndarray:
    where = f"{path}: member `{info.filename}`"
    if not info.filename.endswith(".npy"):
        raise InputError(f"{where} is not a numpy array (.npy); save traces with numpy.savez")
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise InputError(f"{where} is a .npy array of format {version}, which this reader does not know")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(fh)
        header = fh.tell()
    if dtype.hasobject or dtype.kind not in "iuf":
        raise InputError(f"{path}: array `{key}` has dtype {dtype}; a trace holds numbers")
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size - header:
        raise InputError(f"{where}: its header declares shape {shape} ({declared} bytes of {dtype}), but it "
                         f"holds {max(0, info.file_size - header)} bytes of data; the file is damaged")
    with archive.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


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
    reader = None
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
    except csv.Error as err:      # a field beyond csv.field_size_limit(), a NUL byte, ...
        raise InputError(f"{path}: line {reader.line_num if reader else 1}: not a CSV of numbers ({err}); "
                         f"give one number per field") from None
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
            except RecursionError:
                raise _Malformed("it is nested too deeply (lists of lists of lists ...)") from None
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


def _finish_object(scan: _Scanner) -> None:
    """Read the rest of the top-level object after `load_history`; nothing may follow it."""
    while scan.peek() != "}":
        scan.take(",")
        scan.value()
        scan.take(":")
        scan.value()
    scan.pos += 1
    if scan.peek():
        raise _Malformed(f"data follows the end of the top-level object ({scan.buf[scan.pos:scan.pos + 20]!r}); "
                         f"give one JSON object")


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
    """Yield (index, array) for each record of the `load_history` array, then check that the
    file holds nothing after the top-level object."""
    index = 0
    try:
        if scan.peek() == "]":
            scan.pos += 1
        else:
            while True:
                yield index, _record_array(scan.value(), index, path)
                index += 1
                if scan.take(",]") == "]":
                    break
    except _Truncated:
        raise InputError(f"{path}: the file ends inside `load_history` at record {index} (counting from 0); "
                         f"the file looks truncated: copy it again") from None
    except _Malformed as err:
        raise InputError(f"{path}: record {index} of load_history (counting from 0) is not valid JSON: "
                         f"{err}") from None
    try:
        _finish_object(scan)
    except _Truncated:
        raise InputError(f"{path}: the file ends before its top-level object is closed; the file looks "
                         f"truncated: copy it again") from None
    except _Malformed as err:
        raise InputError(f"{path}: after `load_history`: {err}") from None


PARTIAL_WINDOW = ("score", "drop")


def load_vllm_expert_load(path: str, window: int = 100, partial: str = "score") -> np.ndarray:
    """vLLM expert-load history as window sums, shape (windows, layers, experts), float64
    (see `read_vllm_expert_load`)."""
    return read_vllm_expert_load(path, window, partial)[0]


def read_vllm_expert_load(path: str, window: int = 100, partial: str = "score") -> tuple[np.ndarray, int]:
    """vLLM expert-load history as window sums, shape (windows, layers, experts), float64, and
    the number of forward passes in the trailing partial window (0 if the records fill whole
    windows).

    The file is a JSON object whose `load_history` key holds a list of records, one per
    forward pass. A record is the pass's token counts as a [layers][experts] list, or an
    object holding that list under `logical_expert_load` (what a vLLM server records),
    `load`, `expert_load`, `expert_load_pass` or `loads`.
    Every `window` consecutive records are summed into one window. A trailing partial window
    (fewer than `window` records) is kept as the last window with `partial="score"`, as the
    public EPLB evaluator does, or dropped with `partial="drop"`. The file is read
    incrementally: memory holds about one chunk of text, one record and the window sums,
    never the whole file.
    """
    if window < 1:
        raise InputError(f"window = {window}: a window holds at least 1 forward pass")
    if partial not in PARTIAL_WINDOW:
        raise InputError(f"partial window `{partial}`: choose {' or '.join(PARTIAL_WINDOW)}")
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
    leftover = count % window
    if leftover and partial == "score":
        windows.append(current)
    if len(windows) < 2:
        kept = "window(s)" if partial == "score" else "full window(s)"
        raise InputError(f"{path}: {count} records with {window} per window make {len(windows)} {kept}; "
                         f"at least 2 are needed (one observed, one scored): record more forward passes or "
                         f"lower the window")
    return np.stack(windows), leftover
