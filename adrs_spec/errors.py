"""User-facing errors with source locations, and the internal-error type.

A `SpecError` is the user's mistake: it carries a `Span` and prints gcc-style,
`file:line:col: message`, the source line, and a marker under the span, followed by
optional notes ("did you mean `experts`?"). A `CompilerBug` is ours, never the user's.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """A spec's text and the name it is reported under; `path`: the file it was read from
    (where the files a spec names, such as its adapters, are looked up), if any."""

    name: str
    text: str
    path: str | None = None

    def __post_init__(self) -> None:
        # CRLF and lone CR end lines too: the parser, the markers and the hash see `\n` only
        if "\r" in self.text:
            object.__setattr__(self, "text", self.text.replace("\r\n", "\n").replace("\r", "\n"))

    def line(self, number: int) -> str:
        """Line `number` (1-based) as the parser counts lines: only `\\n` ends one (the parser
        reads text whose line endings are already `\\n`; `str.splitlines` would also split
        at form feeds and Unicode separators and put carets on the wrong line)."""
        lines = self.text.split("\n")
        return lines[number - 1] if 0 < number <= len(lines) else ""


@dataclass(frozen=True)
class Span:
    """A region of a source: 1-based line and column of the first and one past the last character."""

    line: int
    col: int
    end_line: int
    end_col: int

    @staticmethod
    def point(line: int, col: int) -> "Span":
        return Span(line, col, line, col + 1)

    def merge(self, other: "Span") -> "Span":
        first = min((self.line, self.col), (other.line, other.col))
        last = max((self.end_line, self.end_col), (other.end_line, other.end_col))
        return Span(first[0], first[1], last[0], last[1])


NOWHERE = Span(0, 0, 0, 0)


@dataclass
class SpecError(Exception):
    """A mistake in a spec (or in an input that refers back to one), with its location."""

    message: str
    span: Span = NOWHERE
    notes: tuple[str, ...] = ()
    source: Source | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def with_source(self, source: Source) -> "SpecError":
        if self.source is None:
            self.source = source
        return self

    def render(self) -> str:
        """`file:line:col: error: message`, the source line, a marker, then the notes."""
        name = self.source.name if self.source else "<spec>"
        if self.span == NOWHERE or self.source is None:
            head = f"{name}: error: {self.message}"
            return "\n".join([head, *(f"  note: {n}" for n in self.notes)])
        text = self.source.line(self.span.line).rstrip()
        width = (self.span.end_col - self.span.col) if self.span.end_line == self.span.line else len(text) - self.span.col + 1
        shown, start, end = _window(text, self.span.col - 1)
        marker = " " * start + "^" * max(1, min(width, end - start))
        out = [f"{name}:{self.span.line}:{self.span.col}: error: {self.message}", f"  {shown}", f"  {marker}"]
        out += [f"  note: {n}" for n in self.notes]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


MAX_SHOWN = 120      # characters of a source line shown under an error


def _window(text: str, start: int) -> tuple[str, int, int]:
    """The part of a long line shown under an error, where the span starts in it, and where
    the line's shown characters end: the whole line when it is short, else MAX_SHOWN
    characters around the start, cut with `...`."""
    if len(text) <= MAX_SHOWN:
        return text, start, len(text)
    left = max(0, min(start - MAX_SHOWN // 3, len(text) - MAX_SHOWN))
    prefix = "..." if left > 0 else ""
    shown = prefix + text[left:left + MAX_SHOWN]
    suffix = "..." if left + MAX_SHOWN < len(text) else ""
    return shown + suffix, start - left + len(prefix), len(shown)


class CompilerBug(Exception):
    """An internal error of adrs-spec: a bug to report, never the user's mistake."""


class InputError(Exception):
    """A bad input that is not a spec: a missing file, a malformed trace, a bad policy file."""
