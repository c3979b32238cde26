"""Turning what went wrong in a policy process into Failure records: exception kinds, the
policy's own traceback frames, the tail of what it printed, death by signal."""
from __future__ import annotations

import signal
import traceback

from adrs_spec.sandbox.limits import format_bytes
from adrs_spec.sandbox.records import Failure

MAX_MESSAGE = 500
TAIL_LINES = 20
TAIL_BYTES = 8192
_ALLOCATOR_MESSAGES = ("can't allocate memory", "cannot allocate memory", "out of memory", "resource_exhausted",
                       "failed to allocate")


def type_name(value) -> str:
    """The name of `value`'s class, read past any metaclass that overrides `__name__`."""
    try:
        return type.__dict__["__name__"].__get__(type(value), type)
    except BaseException:
        return "an exception of unreadable type"


def safe_text(value, formatter=str) -> str | None:
    """`formatter(value)` as a plain str, or None if formatting raised (a policy's exception
    may define a `__str__` or `__repr__` that raises, or returns something odd)."""
    try:
        text = formatter(value)
        return str.__str__(text) if isinstance(text, str) else None
    except BaseException:
        return None


def describe_exception(error: BaseException) -> str:
    """`ValueError: message`; if the message cannot be formatted, says so (never raises)."""
    name, text = type_name(error), safe_text(error)
    if text is not None:
        return f"{name}: {text}"
    try:
        str(error)
    except BaseException as inner:       # formatting raised: name what it raised
        return f"the policy raised {name}; formatting its message raised {type_name(inner)}"
    return f"the policy raised {name}; formatting its message did not give a string"


def is_out_of_memory(error: BaseException) -> bool:
    """MemoryError, or an array library's allocator failure reported as another exception."""
    if isinstance(error, MemoryError):
        return True
    text = (safe_text(error) or "").lower()
    return isinstance(error, RuntimeError) and any(m in text for m in _ALLOCATOR_MESSAGES)


def shorten(text: str, limit: int = MAX_MESSAGE) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def policy_traceback(error: BaseException, path: str, display: str) -> str | None:
    """The frames of the traceback that lie in the policy file, innermost last, then the exception."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == path]
    if not frames:
        return None
    lines = ["Traceback (policy frames only):"]
    for frame in frames:
        lines.append(f'  File "{display}", line {frame.lineno}, in {frame.name}')
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    lines.append(shorten(describe_exception(error)))
    return "\n".join(lines)


def exception_failure(error: BaseException, path: str, display: str, memory_bytes: int | None,
                      call_index: int | None) -> Failure:
    """A Failure for an exception raised by the policy: `memory` for allocation failures,
    `crash` for the rest (message: the exception type and text)."""
    text = shorten(describe_exception(error))
    detail = policy_traceback(error, path, display)
    if is_out_of_memory(error):
        limit = f"limit {format_bytes(memory_bytes)}" if memory_bytes is not None else "no address-space limit"
        return Failure("memory", f"the policy ran out of memory ({limit}): {text}", call_index, detail)
    if isinstance(error, SystemExit):
        code = safe_text(getattr(error, "code", None), repr)
        text = f"the policy called sys.exit({code if code is not None else '...'})"
    return Failure("crash", text, call_index, detail)


def stack_from_dump(dump: str, path: str, display: str) -> str | None:
    """The policy-file lines of a faulthandler stack dump (where a timed-out call was stuck)."""
    lines = [line.replace(path, display).strip() for line in dump.splitlines() if f'"{path}"' in line]
    if not lines:
        return None
    return "where it was (innermost first):\n" + "\n".join("  " + line for line in lines)


def tail_of_file(path: str) -> str | None:
    """The last lines of a file (the policy's printed output), or None if it is empty."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(size - TAIL_BYTES, 0))
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    lines = text.splitlines()[-TAIL_LINES:]
    return "\n".join(lines) if any(line.strip() for line in lines) else None


def death_failure(exit_code: int | None, sig: int | None, memory_bytes: int | None, file_bytes: int,
                  call_index: int | None) -> Failure:
    """A Failure for a policy process that ended without reporting."""
    if sig == signal.SIGKILL:
        return Failure("memory", f"the policy process was killed by SIGKILL, most likely by the kernel's "
                                 f"out-of-memory killer (memory limit {format_bytes(memory_bytes)})", call_index)
    if sig == signal.SIGXFSZ:
        return Failure("killed", f"the policy process was killed by SIGXFSZ: it wrote a file (or printed) "
                                 f"beyond the file size limit of {format_bytes(file_bytes)}", call_index)
    if sig is not None:
        return Failure("killed", f"the policy process was killed by {_signal_name(sig)}", call_index)
    if exit_code is not None:
        return Failure("crash", f"the policy process exited with status {exit_code} without returning "
                                f"(os._exit, or a fatal error in a library)", call_index)
    return Failure("killed", "the policy process ended without reporting, and its exit status is unknown "
                             "(the sandbox worker died with it)", call_index)


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return f"signal {sig}"
