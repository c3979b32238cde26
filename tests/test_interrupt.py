"""Ctrl-C in the Z3 commands: raised only where it is safe (the main thread waiting for a
solver), never lost in a finalizer, held back while results are written."""
import gc
import os
import signal
import threading
import time

import pytest

from adrs_spec.backends.z3.solve import wait
from adrs_spec.interrupt import MAX_RETRIES, RETRY_S, Interrupt


class _PressedWhileCollected:
    """Ctrl-C arrives while this object is being finalized, as it can while Z3 terms are."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)        # the handler runs here, inside __del__


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_a_press_inside_a_finalizer_is_not_lost_and_prints_nothing(capsys):
    interrupt = Interrupt()
    with interrupt.installed():
        _PressedWhileCollected()
        gc.collect()
        assert interrupt.requested
        with pytest.raises(KeyboardInterrupt):
            interrupt.checkpoint()
    assert "Exception ignored" not in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_press_in_other_code_is_raised_once_the_main_thread_waits_for_the_solver():
    interrupt, reached = Interrupt(safe=[wait.__code__]), []
    never = threading.Event()
    guard = threading.Timer(5, never.set)          # the test ends even if the press is lost
    guard.daemon = True
    guard.start()
    with interrupt.installed():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            _busy(0.2)                          # not a safe place: delivered again later
            never.wait(0.2)                     # nor is a thread's or an event's wait
            reached.append(True)
            wait(never)                         # the wait for a solver: raised here
        assert reached == [True] and not never.is_set()
    guard.cancel()


def test_ctrl_c_during_a_search_stops_the_solver_and_leaves_it_usable():
    import z3

    from adrs_spec.backends.z3.solve import solve

    solver = z3.Solver()                 # 12 pigeons in 11 holes: minutes to refute
    hard = [z3.Bool(f"h{p}_{h}") for p in range(12) for h in range(11)]
    solver.add(*(z3.Or(*hard[p * 11:(p + 1) * 11]) for p in range(12)))
    solver.add(*(z3.Not(z3.And(hard[p * 11 + h], hard[q * 11 + h])) for h in range(11)
                 for p in range(12) for q in range(p + 1, 12)))
    interrupt = Interrupt(safe=[wait.__code__])
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    start = time.monotonic()
    with interrupt.installed():
        with pytest.raises(KeyboardInterrupt):
            solve(solver, [], 60)
    assert time.monotonic() - start < 10
    solver.push()                      # nobody else is using it: it answers again
    solver.pop()


def test_a_press_is_raised_anyway_when_no_safe_moment_comes():
    interrupt = Interrupt()
    start = time.monotonic()
    with interrupt.installed():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            _busy(10 * MAX_RETRIES * RETRY_S)
    assert time.monotonic() - start < 5 * MAX_RETRIES * RETRY_S


def test_a_press_inside_a_critical_section_waits_for_its_end():
    interrupt, finished = Interrupt(), []
    with interrupt.installed():
        with pytest.raises(KeyboardInterrupt):
            with interrupt.critical():
                os.kill(os.getpid(), signal.SIGINT)
                threading.Event().wait(0.2)
                finished.append(True)
    assert finished == [True]


def test_without_a_press_a_checkpoint_passes():
    interrupt = Interrupt()
    with interrupt.installed():
        interrupt.checkpoint()
        with interrupt.critical():
            pass
    assert not interrupt.requested


def test_ctrl_c_inside_a_ctypes_call_is_an_interruption_not_a_traceback(capsys):
    import ctypes

    from adrs_spec.cli import user_errors

    class _Pressed:                    # Ctrl-C while ctypes converts an argument, as for a Z3 call
        @property
        def _as_parameter_(self):
            raise KeyboardInterrupt

    @user_errors
    def command():
        ctypes.CDLL(None).abs(_Pressed())

    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 130 and capsys.readouterr().err == "interrupted\n"

    @user_errors
    def other():
        ctypes.CDLL(None).abs(object())

    with pytest.raises(ctypes.ArgumentError):      # a real bug still shows as one
        other()


def test_an_error_after_a_press_is_the_press_and_one_without_is_itself():
    interrupt = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        with interrupt.installed():
            with interrupt.critical():
                os.kill(os.getpid(), signal.SIGINT)
                threading.Event().wait(0.1)
                raise RuntimeError("a solver stopped mid-way")
    with pytest.raises(RuntimeError):
        with Interrupt().installed():
            raise RuntimeError("a real error")
