"""Ctrl-C that lands in a finalizer is dropped by Python; the CLI must not lose it."""
import gc
import os
import signal
import time

import pytest

from adrs_spec.cli import _Interrupt


class _PressedWhileCollected:
    """Ctrl-C arrives while this object is being finalized, as it can while Z3 terms are."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)        # the handler runs here, inside __del__


def test_a_ctrl_c_inside_a_finalizer_is_remembered_and_raised_at_the_next_checkpoint(capsys):
    interrupt = _Interrupt()
    with interrupt.installed():
        _PressedWhileCollected()
        gc.collect()
        assert interrupt.requested                 # Python dropped the exception...
        with pytest.raises(KeyboardInterrupt):
            interrupt.checkpoint()                 # ...the checkpoint raises it
    assert "Exception ignored" not in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_inside_a_critical_section_waits_for_its_end():
    interrupt, finished = _Interrupt(), []
    with interrupt.installed():
        with pytest.raises(KeyboardInterrupt):
            with interrupt.critical():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.01)
                finished.append(True)
    assert finished == [True]


def test_without_ctrl_c_a_checkpoint_passes():
    interrupt = _Interrupt()
    with interrupt.installed():
        interrupt.checkpoint()
        with interrupt.critical():
            pass
    assert not interrupt.requested
