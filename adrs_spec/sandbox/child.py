"""The policy process: load the policy file, run the calls the sandbox sends, time them, and
send back what they returned.

The clock is bound here, at import, in the sandbox worker before any policy exists: a
policy that replaces time.perf_counter_ns, time.time or time.monotonic changes what it
sees, not `_clock`. Timing covers the call itself, waiting for asynchronous libraries, and
converting the returned values to numpy (so a lazy object that computes when converted is
paid for); checking shapes and dtypes and sending the arrays come after the clock stops.

A policy written to a public interface runs through the spec's adapter (adapters.py): the
adapter builds the public call from the spec's arguments (untimed) and turns what the public
function returned into the spec's outputs (timed, like the conversion to numpy).

Messages (see protocol.py), one request at a time:
  load  {path, display, function, arguments, outputs, adapters} -> loaded {interface} | failure
  call  {args}  -> done {ns}, then checked | failure   (the null policy until `load`)
  fetch         -> outputs {values}                      (the arrays of the last call; written
                                                          to the shared area if there is one)
  exit          -> the process exits
"""
from __future__ import annotations

import mmap
import socket
import time

from adrs_spec.sandbox.adapters import AdapterError, AdapterRejected, AdapterSource
from adrs_spec.sandbox.convert import BadOutput, check_outputs, returned_values, to_library, wait_for_device
from adrs_spec.sandbox.failures import exception_failure
from adrs_spec.sandbox.loading import LoadError, load_policy
from adrs_spec.sandbox.protocol import recv_message, send_message
from adrs_spec.sandbox.records import OutputSpec
from adrs_spec.sandbox.shared import layout, write_values

_clock = time.perf_counter_ns
MAX_REQUEST_BYTES = 1 << 40     # requests come from the sandbox itself


def _null_policy(*args):
    """Stands in for the policy before it is loaded: the sandbox times it to measure the
    cost of a round trip on its own."""
    return None


class PolicyProcess:
    """Serves one candidate's requests on `sock` until `exit` (or the socket closes)."""

    def __init__(self, sock: socket.socket, array: str, memory_bytes: int | None, area: mmap.mmap | None = None):
        self.sock, self.array, self.memory_bytes, self.area = sock, array, memory_bytes, area
        self.offsets: list[int] = []
        self.func = _null_policy
        self.adapter = None          # a LoadedAdapter when the policy is written to a public interface
        self.outputs: list[OutputSpec] | None = None
        self.path = self.display = ""
        self.last_values: tuple | None = None

    def serve(self) -> None:
        handlers = {"load": self.load, "call": self.call, "fetch": self.fetch}
        while True:
            request = recv_message(self.sock, None, MAX_REQUEST_BYTES)
            if request["op"] == "exit":
                return
            handlers[request["op"]](request)

    def refuse(self, kind: str, message: str) -> None:
        """Answer every request with the same failure (the process could not be isolated)."""
        while recv_message(self.sock, None, MAX_REQUEST_BYTES)["op"] != "exit":
            self.fail(kind, message)

    def reply(self, message: dict) -> None:
        send_message(self.sock, message)

    def fail(self, kind: str, message: str, detail: str | None = None) -> None:
        self.reply({"op": "failure", "kind": kind, "message": message, "detail": detail})

    def load(self, request: dict) -> None:
        self.path, self.display = request["path"], request["display"]
        try:
            adapters = [AdapterSource(name, filename, source, tuple(names), problem)
                        for name, filename, source, names, problem in request.get("adapters", ())]
            self.func, self.adapter = load_policy(self.path, self.display, request["function"], request["arguments"],
                                                  adapters)
        except LoadError as error:
            return self.fail("load_error", error.message, error.detail)
        except BaseException as error:
            failure = exception_failure(error, self.path, self.display, self.memory_bytes, None)
            return self.fail(failure.kind, failure.message, failure.detail)
        self.outputs = [OutputSpec(*fields) for fields in request["outputs"]]
        self.offsets = layout(self.outputs)[0]
        self.reply({"op": "loaded", "interface": self.adapter.name if self.adapter is not None else None})

    def call(self, request: dict) -> None:
        self.last_values = None
        adapter, state, keywords = self.adapter, None, {}
        try:
            if adapter is not None:
                args, keywords, state = adapter.call_arguments(request["args"])
            else:
                args = to_library(request["args"], self.array)
            started = _clock()
            result = self.func(*args, **keywords)
            wait_for_device(result)
            if adapter is not None:
                result = adapter.spec_outputs(result, state)
            values = returned_values(result, self.outputs) if self.outputs is not None else None
            elapsed = _clock() - started
        except (BadOutput, AdapterRejected) as error:
            return self.fail("bad_output", str(error))
        except AdapterError as error:
            return self.fail("crash", error.message, error.detail)
        except BaseException as error:
            failure = exception_failure(error, self.path, self.display, self.memory_bytes, None)
            return self.fail(failure.kind, failure.message, failure.detail)
        del args, keywords, state, result
        self.reply({"op": "done", "ns": elapsed})
        if values is None:
            return self.reply({"op": "checked"})
        try:
            self.last_values = check_outputs(values, self.outputs)
        except BadOutput as error:
            return self.fail("bad_output", str(error))
        self.reply({"op": "checked"})

    def fetch(self, request: dict) -> None:
        if self.area is not None:
            write_values(self.area, self.offsets, self.outputs, self.last_values)
            return self.reply({"op": "outputs", "shared": True})
        self.reply({"op": "outputs", "values": list(self.last_values or ())})
