"""Kills its parent (the sandbox worker), then waits."""
import os
import signal
import time


def place(weight, replicas):
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(30)
