"""Ctrl-C for commands that build and solve Z3 queries: it stops them cleanly, always.

Python raises KeyboardInterrupt in whatever bytecode runs when SIGINT arrives. Two places
are bad for that: inside a finalizer (a Z3 term being collected), where Python prints
"Exception ignored" and drops it, so the run goes on as if nothing was pressed; and inside a
call through ctypes (Z3 building a term), where it comes out as a ctypes.ArgumentError with
a traceback; and inside Thread.join, which in Python 3.11 can then take a running thread for
finished. `Interrupt(safe).installed()` raises the press only where it is safe, in the code
objects `safe` (the wait for a solver: adrs_spec.backends.z3.solve.wait, after which the
solver is stopped), and elsewhere delivers it again a moment later; `checkpoint()` raises a
remembered press at a point the command chooses, and `critical()` holds it back until a
section that must not be cut (writing what was found) has ended.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from types import CodeType
from typing import Iterable

RETRY_S = 0.05           # a press that landed somewhere unsafe is delivered again after this
MAX_RETRIES = 40         # then, after 2 s without a safe moment, it is raised wherever it lands


class Interrupt:
    def __init__(self, safe: Iterable[CodeType] = ()) -> None:
        self._safe = frozenset(safe)
        self.requested = False
        self._deferring = 0
        self._raised = False
        self._retries = 0
        self._timer: threading.Timer | None = None

    def _on_signal(self, signum, frame) -> None:
        self.requested = True
        if self._raised or self._deferring:       # already stopping, or critical() raises it at its end
            return
        safe = frame is None or frame.f_code in self._safe
        if not safe and self._retries < MAX_RETRIES:
            self._retries += 1
            self._timer = threading.Timer(RETRY_S, os.kill, (os.getpid(), signal.SIGINT))
            self._timer.daemon = True
            self._timer.start()
            return
        self._raised = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self):
        """This handler for SIGINT (the main thread only), and a press dropped in a finalizer
        printed by nobody. An error that ends the block after a press is the press (a solver
        stopped mid-way may answer with one): KeyboardInterrupt."""
        previous, hook = signal.signal(signal.SIGINT, self._on_signal), sys.unraisablehook

        def quiet(unraisable) -> None:
            if not isinstance(unraisable.exc_value, KeyboardInterrupt):
                hook(unraisable)

        sys.unraisablehook = quiet
        try:
            yield self
        except Exception:
            if self.requested:
                raise KeyboardInterrupt from None
            raise
        finally:
            self._raised = True                   # a redelivery still in flight is ignored
            if self._timer is not None:
                self._timer.cancel()
                self._timer.join()
            signal.signal(signal.SIGINT, previous)
            sys.unraisablehook = hook

    @contextlib.contextmanager
    def critical(self):
        """Hold a press back until the block has run; raise it then."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
        self.checkpoint()

    def checkpoint(self) -> None:
        """Raise a press that has not been raised yet."""
        if self.requested and not self._deferring:
            self._raised = True
            raise KeyboardInterrupt
