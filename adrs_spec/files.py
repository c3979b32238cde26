"""Files on disk: what the tools read is checked before it is opened, and what they write
lands atomically, beside whatever else an output folder holds.

Reading: a path must name a regular file. A FIFO would block the reader until someone
writes to it, and a device such as /dev/zero never ends, so the type is checked with
`stat` first (which neither opens nor blocks).

Writing: each file is written to a temporary name in its destination folder and moved
over the old one with `os.replace`, while the folder is locked (`flock` on the folder
itself, so no lock file is left behind). Concurrent writers of the same folder take
turns; a reader sees each file old or new, never half-written; nothing the tools did not
write is deleted.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import stat

from adrs_spec.errors import InputError

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def regular_file_size(path: str, what: str) -> int:
    """The size of the regular file at `path`; an InputError naming what it is otherwise.

    `what` says what the file should be ("a .adrs spec"), for the message."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; give the path of {what}") from None
    except OSError as err:
        raise InputError(f"{path}: cannot be read ({err.strerror or err}); give the path of {what}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = next((name for test, name in _KINDS if test(info.st_mode)), "not a regular file")
        raise InputError(f"{path}: is {kind}, not a file; give the path of {what}")
    return info.st_size


@contextlib.contextmanager
def locked_folder(folder: str):
    """An exclusive lock on `folder` (created if need be) for as long as the block runs."""
    os.makedirs(folder, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)            # closing the descriptor releases the lock


def temporary_name(folder: str, name: str) -> str:
    """A fresh hidden name in `folder` for the temporary copy of `name`."""
    return os.path.join(folder, f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_new(path: str, data: bytes) -> None:
    """Create `path` (which must not exist) with `data`, flushed to disk; normal permissions
    (0666 less the umask, as for any file the user creates)."""
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def replace_files(folder: str, files: dict[str, bytes]) -> None:
    """Write each `name -> data` into `folder`: to temporary files first, then moved over the
    old ones in order (the caller holds the folder's lock if several files must change together)."""
    staged: list[tuple[str, str]] = []
    try:
        for name, data in files.items():
            tmp = temporary_name(folder, name)
            write_new(tmp, data)
            staged.append((tmp, os.path.join(folder, name)))
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
