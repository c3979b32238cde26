"""A real OpenAI-compatible chat-completions server on loopback, answering from a script.

Tests of the LLM client and of whole evolve runs talk to it through a real socket with the
real `openai` client, so retries, timeouts, status codes and malformed bodies are exercised
the way a hosted endpoint or a local vLLM / llama.cpp server would exercise them.

    with ScriptedServer([Reply(status=429), Reply("the answer", prompt_tokens=10,
                                                   completion_tokens=3)]) as server:
        settings = LLMSettings(base_url=server.base_url, models=(ModelSpec("m"),))
        ...
        server.requests[-1]["messages"]      # what the client sent
        server.headers[-1]["authorization"]  # header names are lower case

Replies are a list consumed in order (the last one repeats) or a function of the request
JSON. The request's headers are recorded before the function is called, so a function can
read `server.headers[-1]` (to echo the Authorization header back, say).

The `scripted_server` fixture starts servers that are stopped after the test; a test module
gets it with `from openai_server import scripted_server`. (It lives here, not in a
conftest.py, because the test modules import the top-level tests/conftest.py by name.)
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Sequence, Union

import pytest

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
MODELS_PATHS = ("/v1/models", "/models")

# OpenAI's error "type" and "code" per status, so clients see the bodies they would see live.
ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


@dataclass
class Reply:
    """One scripted answer.

    `status` 200 answers a chat completion with `content`; any other status answers an
    OpenAI error body whose message is `content` (or the status phrase). `prompt_tokens` /
    `completion_tokens` go into "usage"; when both are None the answer has no "usage" at
    all, as some local servers do. `raw_body` replaces the whole body (a malformed answer).
    `delay_s` sleeps before answering (a slow model; cut short when the server stops).
    `headers` are extra response headers (Retry-After, say). `drop` closes the connection
    without answering (a connection reset).
    """

    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    raw_body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False


Script = Union[Sequence[Reply], Callable[[dict], Reply]]


class ScriptedServer:
    """An http.server on 127.0.0.1, an OS-chosen port, served from a daemon thread.

    POST /v1/chat/completions (and /chat/completions) answers from the script; GET
    /v1/models (and /models) lists `models`. When `models` is given, a request for any
    other model gets OpenAI's 404 "model not found"; otherwise every model is accepted.
    Other paths get a FastAPI-style 404, as vLLM answers them.
    """

    def __init__(self, replies: Script, models: Sequence[str] = ()):
        if not callable(replies) and not replies:
            raise ValueError("a ScriptedServer needs at least one Reply")
        self._script = replies if callable(replies) else list(replies)
        self.models = tuple(models)
        self.requests: list[dict] = []        # chat-completion JSON bodies, in arrival order
        self.headers: list[dict] = []         # their headers, names lower-cased
        self.paths: list[str] = []            # "METHOD /path" of every request, any kind
        self._next = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> "ScriptedServer":
        handler = type("Handler", (_Handler,), {"scripted": self})
        self._httpd = _Server(("127.0.0.1", 0), handler, self)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name=f"scripted-openai-{self.port}")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, cut sleeping handlers short, close every socket, join the thread."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            _close_quietly(connection)
        self._thread.join()
        self._httpd = None

    def __enter__(self) -> "ScriptedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """The server root, without /v1 (a wrong base URL for an OpenAI client)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # --- script ----------------------------------------------------------------------------

    def _record(self, path: str, body: dict | None, headers: dict) -> None:
        with self._lock:
            self.paths.append(path)
            if body is not None:
                self.requests.append(body)
                self.headers.append(headers)

    def _reply_for(self, body: dict) -> Reply:
        if callable(self._script):
            return self._script(body)
        with self._lock:
            reply = self._script[min(self._next, len(self._script) - 1)]
            self._next += 1
        return reply


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address, handler, scripted: ScriptedServer):
        self.scripted = scripted
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self.scripted._lock:
            self.scripted._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.scripted._lock:
            self.scripted._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # a client that hung up mid-answer (its timeout fired) is expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive, as the openai client's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    scripted: ScriptedServer

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        self.scripted._record(f"GET {path}", None, {})
        if path not in MODELS_PATHS:
            return self._send(404, json.dumps({"detail": "Not Found"}))
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "scripted"}
                for name in self.scripted.models]
        self._send(200, json.dumps({"object": "list", "data": data}))

    def do_POST(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.scripted._record(f"POST {path}", body if path in CHAT_PATHS else None, headers)
        if path not in CHAT_PATHS:
            return self._send(404, json.dumps({"detail": "Not Found"}))
        if not isinstance(body, dict):
            return self._send(400, _error_body(400, "the request body is not a JSON object"))
        model = body.get("model")
        if self.scripted.models and model not in self.scripted.models:
            return self._send(404, _error_body(404, f"The model `{model}` does not exist."))
        reply = self.scripted._reply_for(body)
        if reply.delay_s and self.scripted._stopping.wait(reply.delay_s):
            self.close_connection = True   # stopping: give up on this answer
            return
        if reply.drop:
            self.close_connection = True
            return
        self._send(reply.status, _answer_body(reply, model), reply.headers)

    def _send(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        data = text.encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True   # the client gave up (timeout) and closed


def _answer_body(reply: Reply, model: str | None) -> str:
    if reply.raw_body is not None:
        return reply.raw_body
    if reply.status != 200:
        return _error_body(reply.status, reply.content)
    answer = {
        "id": f"chatcmpl-scripted-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.content},
                     "finish_reason": "stop"}],
    }
    usage = {}
    if reply.prompt_tokens is not None:
        usage["prompt_tokens"] = reply.prompt_tokens
    if reply.completion_tokens is not None:
        usage["completion_tokens"] = reply.completion_tokens
    if len(usage) == 2:
        usage["total_tokens"] = reply.prompt_tokens + reply.completion_tokens
    if usage:
        answer["usage"] = usage
    return json.dumps(answer)


def _error_body(status: int, message: str) -> str:
    kind, code = ERROR_KINDS.get(status, ("server_error" if status >= 500 else "error", None))
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    return json.dumps({"error": {"message": message or phrase, "type": kind, "code": code}})


def _close_quietly(connection) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        connection.close()
    except OSError:
        pass


@pytest.fixture
def scripted_server():
    """Start servers with `scripted_server(replies, models=())`; all are stopped after the test."""
    started = []

    def start(replies: Script, models: Sequence[str] = ()) -> ScriptedServer:
        server = ScriptedServer(replies, models).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
