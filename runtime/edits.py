"""Turn a model's answer into a child program, or into a reason it can be sent back with.

An answer holds SEARCH/REPLACE diffs or one full rewrite in a ```python block. Diffs are
matched exactly first, then ignoring trailing whitespace, then ignoring indentation (the
replacement is re-indented to where the match was found). Only the lines between
`# EVOLVE-BLOCK-START` and `# EVOLVE-BLOCK-END` may change; a program without markers is
one block. Every failure is an EditError whose `reason` is written for the model to read.

`apply_tree` is the same for the built-in mutator, which edits a syntax tree: the changed
statements are re-rendered with ast.unparse, everything else is kept byte for byte.

`normalize` and `code_hash` give the canonical form used to spot duplicate children:
comments, docstrings, blank lines and formatting do not make a program new.
"""
from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import io
import re
import tokenize
from dataclasses import dataclass

EVOLVE_START = "# EVOLVE-BLOCK-START"
EVOLVE_END = "# EVOLVE-BLOCK-END"

_SEARCH = re.compile(r"^\s*<{5,}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,}\s*$")
_REPLACE = re.compile(r"^\s*>{5,}\s*REPLACE\s*$")
_FENCE = re.compile(r"^\s*```\s*([A-Za-z0-9_+-]*)\s*$")


class EditError(Exception):
    """An answer that cannot become a child; `reason` is one paragraph for the model."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Block:
    start: int   # first editable line, 0-based
    end: int     # one past the last editable line


@dataclass(frozen=True)
class Diff:
    search: list[str]    # lines, without line endings
    replace: list[str]


def _lines(code: str) -> list[str]:
    """Lines with their endings, so that joining them gives the code back byte for byte."""
    return code.splitlines(keepends=True)


def _is_marker(line: str, marker: str) -> bool:
    return line.strip() == marker


def evolve_blocks(code: str) -> list[Block]:
    """The editable line spans; the whole file when it has no markers."""
    blocks: list[Block] = []
    open_at: int | None = None
    lines = _lines(code)
    for i, line in enumerate(lines):
        if _is_marker(line, EVOLVE_START):
            if open_at is not None:
                raise EditError(f"line {i + 1} opens an EVOLVE-BLOCK inside the one opened at line {open_at + 1}; "
                                f"blocks cannot nest: close each block with `{EVOLVE_END}` before opening another")
            open_at = i
        elif _is_marker(line, EVOLVE_END):
            if open_at is None:
                raise EditError(f"line {i + 1} closes an EVOLVE-BLOCK that was never opened; "
                                f"put `{EVOLVE_START}` before it")
            blocks.append(Block(open_at + 1, i))
            open_at = None
    if open_at is not None:
        raise EditError(f"the EVOLVE-BLOCK opened at line {open_at + 1} is never closed; "
                        f"put `{EVOLVE_END}` after its last line")
    return blocks or [Block(0, len(lines))]


def describe_blocks(blocks: list[Block]) -> str:
    """`the EVOLVE-BLOCK (lines 20-48)`, 1-based and inclusive, for messages."""
    spans = [f"{b.start + 1}-{b.end}" if b.end > b.start else f"empty at line {b.start + 1}" for b in blocks]
    if len(spans) == 1:
        return f"the EVOLVE-BLOCK (lines {spans[0]})"
    return f"the EVOLVE-BLOCKs (lines {', '.join(spans[:-1])} and {spans[-1]})"


def inside(blocks: list[Block], first: int, last: int) -> bool:
    """Whether the 0-based line span [first, last) lies within one block."""
    return any(b.start <= first and last <= b.end for b in blocks)


# ---- parsing an answer ----

def parse_diffs(response: str) -> list[Diff]:
    """Every SEARCH/REPLACE diff in the answer, in order; fences around them are ignored."""
    diffs: list[Diff] = []
    lines = response.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        if not _SEARCH.match(lines[i]):
            i += 1
            continue
        number = len(diffs) + 1
        search, i = _collect(lines, i + 1, _DIVIDER, number, "`=======` divider")
        replace, i = _collect(lines, i + 1, _REPLACE, number, "`>>>>>>> REPLACE` line")
        diffs.append(Diff(search, replace))
        i += 1
    return diffs


def _collect(lines: list[str], i: int, end: re.Pattern, number: int, what: str) -> tuple[list[str], int]:
    out: list[str] = []
    while i < len(lines) and not end.match(lines[i]):
        if _SEARCH.match(lines[i]):
            break
        out.append(lines[i])
        i += 1
    if i >= len(lines) or not end.match(lines[i]):
        raise EditError(f"diff {number} has no {what}; write each diff as `<<<<<<< SEARCH`, the lines to replace, "
                        f"`=======`, the new lines, `>>>>>>> REPLACE`")
    return out, i


def fenced_code(response: str) -> str | None:
    """The largest fenced code block (```python, ```py or a bare ```), or None."""
    found: list[str] = []
    lines = response.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m and m.group(1).lower() in ("", "python", "py", "python3"):
            j = i + 1
            while j < len(lines) and not _FENCE.match(lines[j]):
                j += 1
            if j < len(lines):
                found.append("\n".join(lines[i + 1:j]))
                i = j + 1
                continue
        i += 1
    return max(found, key=len) if found else None


# ---- applying diffs ----

def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _find(current: list[str], search: list[str]) -> list[tuple[int, int]]:
    """Spans [first, last) of current lines that match the SEARCH lines, trying exact,
    then trailing-whitespace-blind, then indentation-blind matching (blank lines ignored)."""
    bare = [line.rstrip("\r\n") for line in current]
    k = len(search)
    exact = [(i, i + k) for i in range(len(bare) - k + 1) if bare[i:i + k] == search]
    if exact:
        return exact
    stripped = [line.rstrip() for line in search]
    loose = [(i, i + k) for i in range(len(bare) - k + 1) if [b.rstrip() for b in bare[i:i + k]] == stripped]
    if loose:
        return loose
    wanted = [line.strip() for line in search if line.strip()]
    if not wanted:
        return []
    solid = [(i, b.strip()) for i, b in enumerate(bare) if b.strip()]
    spans = []
    for j in range(len(solid) - len(wanted) + 1):
        if all(solid[j + n][1] == w for n, w in enumerate(wanted)):
            spans.append((solid[j][0], solid[j + len(wanted) - 1][0] + 1))
    return spans


def _reindent(replace: list[str], search: list[str], matched_first: str) -> list[str]:
    """The REPLACE lines moved by the indentation difference between the SEARCH text and
    the line it matched."""
    first = next((line for line in search if line.strip()), "")
    old, new = _indent(first), _indent(matched_first)
    if old == new:
        return replace
    out = []
    for line in replace:
        if not line.strip():
            out.append("")
        elif line.startswith(old):
            out.append(new + line[len(old):])
        else:
            width = len(_indent(line).expandtabs(4)) - len(old.expandtabs(4)) + len(new.expandtabs(4))
            out.append(" " * max(width, 0) + line.lstrip())
    return out


def _not_found(number: int, search: list[str], current: list[str]) -> EditError:
    first = next((line.strip() for line in search if line.strip()), "")
    bare = [line.strip() for line in current]
    close = difflib.get_close_matches(first, bare, n=1, cutoff=0.6)
    hint = ""
    if close:
        hint = f" (the closest line is line {bare.index(close[0]) + 1}: `{close[0]}`)"
    return EditError(f"SEARCH block {number} was not found in the current program{hint}; copy the lines to "
                     f"replace exactly, including indentation, from the program as it is after the diffs before it")


def _apply_diff(current: list[str], diff: Diff, number: int) -> list[str]:
    if not any(line.strip() for line in diff.search):
        raise EditError(f"SEARCH block {number} is empty; a diff must quote the lines it replaces")
    blocks = evolve_blocks("".join(current))
    spans = _find(current, diff.search)
    if not spans:
        raise _not_found(number, diff.search, current)
    allowed = [s for s in spans if inside(blocks, *s)]
    if not allowed:
        first, last = spans[0]
        lines = f"line {first + 1}" if last - first == 1 else f"lines {first + 1}-{last}"
        raise EditError(f"edit {number} changes {lines}, outside {describe_blocks(blocks)}: only code between "
                        f"the markers may change; quote lines inside the block, and leave the markers as they are")
    first, last = allowed[0]
    newline = "\r\n" if current[first].endswith("\r\n") else "\n"
    replacement = _reindent(diff.replace, diff.search, current[first])
    return current[:first] + [line + newline for line in replacement] + current[last:]


def apply_diffs(parent: str, diffs: list[Diff]) -> str:
    """All diffs applied in order, each to the result of the ones before; one failure
    rejects them all."""
    current = _lines(parent)
    if current and not current[-1].endswith("\n"):
        current[-1] += "\n"
        trailing_newline = False
    else:
        trailing_newline = True
    for number, diff in enumerate(diffs, start=1):
        current = _apply_diff(current, diff, number)
    child = "".join(current)
    return child if trailing_newline else child[:-1]


# ---- full rewrites ----

def _outside(code: str, blocks: list[Block]) -> list[tuple[int, list[str]]]:
    """The runs of lines outside the blocks, with the 0-based line each starts at."""
    lines = _lines(code)
    runs, at = [], 0
    for b in blocks:
        runs.append((at, lines[at:b.start]))
        at = b.end
    runs.append((at, lines[at:]))
    return runs


def _marker_count(code: str) -> int:
    return sum(_is_marker(line, EVOLVE_START) or _is_marker(line, EVOLVE_END) for line in _lines(code))


def apply_rewrite(parent: str, rewrite: str) -> str:
    """The blocks of the rewrite spliced into the parent: the lines outside the blocks are
    the parent's own bytes, and must match the rewrite's up to trailing whitespace."""
    blocks = evolve_blocks(parent)
    if parent.endswith("\n") and not rewrite.endswith("\n"):
        rewrite += "\n"
    if _marker_count(rewrite) != _marker_count(parent):
        raise EditError(f"the rewrite has {_marker_count(rewrite)} EVOLVE-BLOCK marker line(s) where the program "
                        f"has {_marker_count(parent)}: write the complete program and keep every "
                        f"`{EVOLVE_START}` / `{EVOLVE_END}` line as it is")
    new_blocks = evolve_blocks(rewrite)
    old_runs, new_runs = _outside(parent, blocks), _outside(rewrite, new_blocks)
    for (at, old), (_, new) in zip(old_runs, new_runs):
        # Blank lines and trailing spaces outside the blocks may differ: the parent's bytes are kept.
        old_solid = [(at + n, line.strip()) for n, line in enumerate(old) if line.strip()]
        new_solid = [line.strip() for line in new if line.strip()]
        if [text for _, text in old_solid] != new_solid:
            k = next((n for n, ((_, a), b) in enumerate(zip(old_solid, new_solid)) if a != b),
                     min(len(old_solid), len(new_solid)))
            where, shown = old_solid[min(k, len(old_solid) - 1)] if old_solid else (at, "")
            text = f" (`{shown}`)" if shown else ""
            raise EditError(f"the rewrite changes line {where + 1}{text}, outside {describe_blocks(blocks)}: only "
                            f"code between the markers may change; keep every other line exactly as it is")
    new_lines = _lines(rewrite)
    out: list[str] = []
    for (_, old), block in zip(old_runs, new_blocks):
        out += old + new_lines[block.start:block.end]
    out += old_runs[-1][1]
    return "".join(out)


# ---- the entry point ----

def _parses(child: str) -> ast.Module:
    """The parse of an edited program; EditError saying where it does not parse."""
    try:
        return ast.parse(child)
    except SyntaxError as err:
        line = (err.text or "").strip()
        shown = f": `{line}`" if line else ""
        raise EditError(f"the edited program does not parse: {err.msg} at line {err.lineno}{shown}; "
                        f"send edits that leave valid Python") from None


def apply_response(parent: str, response: str) -> str:
    """The child program the answer describes, or EditError with the reason."""
    evolve_blocks(parent)   # a parent with broken markers cannot be edited at all
    diffs = parse_diffs(response)
    if diffs:
        child = apply_diffs(parent, diffs)
    else:
        rewrite = fenced_code(response)
        if rewrite is None:
            raise EditError("the answer holds no SEARCH/REPLACE diff and no ```python block; answer with one or "
                            "more diffs in the format `<<<<<<< SEARCH`, the exact lines to replace, `=======`, the "
                            "new lines, `>>>>>>> REPLACE`, or with the complete program in one ```python block")
        child = apply_rewrite(parent, rewrite)
    if child == parent:
        raise EditError("the edits leave the program unchanged; change the code inside the EVOLVE-BLOCK")
    _parses(child)
    return child


# ---- a changed syntax tree back to text ----

def first_line(stmt: ast.stmt) -> int:
    """0-based first line of a statement, its decorators included."""
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])]) - 1


_BODIES = ("body", "orelse", "finalbody")


class _Unplaceable(Exception):
    """A changed statement shares its lines with code that did not change."""


def same_tree(a: object, b: object) -> bool:
    """Structural equality of two syntax trees (positions ignored); `-1` written as a
    constant equals `-1` as parsed (a minus applied to 1)."""
    if isinstance(a, ast.AST) or isinstance(b, ast.AST):
        a, b = _folded(a), _folded(b)
        if type(a) is not type(b):
            return False
        if isinstance(a, ast.Constant):
            return type(a.value) is type(b.value) and a.value == b.value
        return all(same_tree(getattr(a, f, None), getattr(b, f, None)) for f in a._fields)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_tree(x, y) for x, y in zip(a, b))
    return a == b


def _folded(node: object) -> object:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) \
            and type(node.operand.value) in (int, float, complex) and not isinstance(node.operand.value, bool):
        return ast.Constant(-node.operand.value)
    return node


def _same_header(a: ast.stmt, b: ast.stmt) -> bool:
    return type(a) is type(b) and all(same_tree(getattr(a, f), getattr(b, f)) for f in a._fields if f not in _BODIES)


def _string_rows(text: str) -> set[int]:
    """1-based rows of `text` that continue a multi-line string: they are not re-indented."""
    rows: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            rows.update(range(tok.start[0] + 1, tok.end[0] + 1))
    return rows


def _render(stmts: list[ast.stmt], indent: str) -> list[str]:
    parts = []
    for n, stmt in enumerate(stmts):
        spaced = n and (isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        or isinstance(stmts[n - 1], (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
        parts.append(("\n" if spaced else "") + ast.unparse(stmt))
    text = "\n".join(parts)
    if not text:
        return []
    keep = _string_rows(text)
    return [line if row in keep or not line else indent + line
            for row, line in enumerate(text.split("\n"), start=1)]


def _indent_of(stmt: ast.stmt, lines: list[str]) -> tuple[int, str]:
    """The 0-based first line of a statement and its indentation, when the statement starts
    its line (else _Unplaceable)."""
    first = first_line(stmt)
    line = lines[first]
    indent = line[:len(line) - len(line.lstrip())]
    decorators = getattr(stmt, "decorator_list", None)
    col = decorators[0].col_offset - 1 if decorators else stmt.col_offset
    if len(indent.encode("utf-8")) != col:
        raise _Unplaceable()
    return first, indent


def _ends_its_line(stmt: ast.stmt, lines: list[str]) -> None:
    rest = lines[stmt.end_lineno - 1].encode("utf-8")[stmt.end_col_offset:].decode("utf-8", "replace").strip()
    if rest and not rest.startswith("#"):
        raise _Unplaceable()


def _replace_run(old: list[ast.stmt], new: list[ast.stmt], lines: list[str], edits: list) -> None:
    """Record the edit that puts `new` (possibly nothing) where the lines of `old` are, when
    those lines hold nothing else."""
    first, indent = _indent_of(old[0], lines)
    _ends_its_line(old[-1], lines)
    edits.append((first, old[-1].end_lineno, _render(new, indent)))


def _insert_run(old: list[ast.stmt], at: int, new: list[ast.stmt], lines: list[str], edits: list) -> None:
    """Record the edit that inserts `new` before old[at] (after the last one when at is the end)."""
    if at < len(old):
        first, indent = _indent_of(old[at], lines)
        edits.append((first, first, _render(new, indent)))
    else:
        _, indent = _indent_of(old[at - 1], lines)
        _ends_its_line(old[at - 1], lines)
        edits.append((old[at - 1].end_lineno, old[at - 1].end_lineno, _render(new, indent)))


def _diff_body(old: list[ast.stmt], new: list[ast.stmt], lines: list[str], edits: list) -> None:
    if len(old) == len(new):
        for o, n in zip(old, new):
            if not same_tree(o, n):
                _diff_statement(o, n, lines, edits)
        return
    old_dumps, new_dumps = [ast.dump(s) for s in old], [ast.dump(s) for s in new]
    p = 0
    while p < min(len(old), len(new)) and old_dumps[p] == new_dumps[p]:
        p += 1
    s = 0
    while s < min(len(old), len(new)) - p and old_dumps[-1 - s] == new_dumps[-1 - s]:
        s += 1
    if p == len(old) - s:
        _insert_run(old, p, new[p:len(new) - s], lines, edits)
    else:
        _replace_run(old[p:len(old) - s], new[p:len(new) - s], lines, edits)


def _diff_statement(old: ast.stmt, new: ast.stmt, lines: list[str], edits: list) -> None:
    if _same_header(old, new):
        inner: list = []
        try:
            for name in _BODIES:
                if hasattr(old, name):
                    _diff_body(getattr(old, name), getattr(new, name), lines, inner)
            edits.extend(inner)
            return
        except _Unplaceable:
            pass
    _replace_run([old], [new], lines, edits)


def apply_tree(parent: str, tree: ast.Module) -> str:
    """The parent with the statements that differ in `tree` (a changed parse of the parent)
    re-rendered with ast.unparse and everything else, comments included, kept byte for byte;
    EditError when a change reaches outside the EVOLVE-BLOCKs."""
    blocks = evolve_blocks(parent)
    lines = _lines(parent)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    edits: list[tuple[int, int, list[str]]] = []
    try:
        _diff_body(ast.parse(parent).body, tree.body, lines, edits)
    except _Unplaceable:
        raise EditError("the change shares a line with code that does not change; put one statement "
                        "per line") from None
    if not edits:
        raise EditError("the tree is the same as the program's: nothing to change")
    for first, last, _ in edits:
        if not inside(blocks, first, last):
            raise EditError(f"the change reaches lines {first + 1}-{last}, outside {describe_blocks(blocks)}")
    for first, last, rendered in sorted(edits, key=lambda e: -e[0]):
        near = lines[min(first, len(lines) - 1)] if lines else "\n"
        newline = "\r\n" if near.endswith("\r\n") else "\n"
        lines[first:last] = [line + newline for line in rendered]
    child = "".join(lines)
    if not parent.endswith("\n") and child.endswith("\n"):
        child = child[:-1]
    if not same_tree(_parses(child), tree):
        raise EditError("the changed program could not be written back faithfully")
    return child


# ---- duplicates ----

class _DropDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _strip


def normalize(code: str) -> str:
    """The program without comments, docstrings, blank lines or formatting; code that does
    not parse is normalized by its lines, stripped, blank ones dropped."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "\n".join(line.strip() for line in code.splitlines() if line.strip())
    return ast.unparse(_DropDocstrings().visit(tree))


@functools.lru_cache(maxsize=1024)
def code_hash(code: str) -> str:
    """The hash of the normalized program (a child is hashed by the mutator, the duplicate
    check and the database: the cache parses it once)."""
    return hashlib.sha256(normalize(code).encode("utf-8")).hexdigest()


def edit_instructions() -> str:
    return (
        "Answer with one or more SEARCH/REPLACE diffs, each in exactly this format:\n\n"
        "<<<<<<< SEARCH\n"
        "the lines to replace, copied exactly from the current program\n"
        "=======\n"
        "the new lines\n"
        ">>>>>>> REPLACE\n\n"
        "The SEARCH lines must appear in the current program (quote whole lines, a few are enough "
        "to be unique; the first match is replaced). Diffs are applied in order, each to the result "
        "of the ones before it. Instead of diffs you may answer with the complete new program in one "
        "```python block. Only the code between the lines `" + EVOLVE_START + "` and `" + EVOLVE_END
        + "` may change (a program without these markers may change anywhere); keep every other line, "
        "the markers included, exactly as it is. The result must be valid Python."
    )
