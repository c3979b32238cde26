"""Chat completions from any OpenAI-compatible endpoint, with retries, accounting and a budget.

    client = LLMClient(LLMSettings(base_url="http://127.0.0.1:8000/v1",
                                   models=(ModelSpec("qwen", weight=3), ModelSpec("llama"))),
                       rng=random.Random(seed), budget_usd=5.0)
    completion = client.complete(system_prompt, user_prompt)   # -> Completion, or LLMError
    client.usage()   # per model: calls, tokens, cost, attempts, failures

Why the retries are ours: the `openai` package is used with max_retries=0 so that which
failures are retried, how long we wait, and which ones end the run are decided here, and
every attempt is counted. Retried: 408, 409, 429, 5xx, timeouts, connection resets and
refused connections (a local server restarting). Not retried: 400-class answers about the
request. Fatal (`LLMError.fatal`, the run must stop): 401/403 (the key), 404 (the model or
the base URL), an endpoint that stays unreachable, a missing key, the budget. Not fatal
(skip one iteration): timeouts and 429/5xx that outlast the retries, malformed answers.

The API key is read from the environment variable named in the settings, only; it is kept
inside the `openai` client and a private field, and removed from every message this module
writes, including the server's own error text (which may echo the request's headers).
Exceptions raised here never chain the `openai` exceptions, whose text is not redacted.

Randomness: the model of each call is drawn from the given rng (one draw per call); the
jitter of retry waits comes from a second generator seeded from it at construction, so the
sequence of models does not depend on how many retries happened.
"""
from __future__ import annotations

import email.utils
import ipaddress
import json
import logging
import math
import os
import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import Mapping
from urllib.parse import urlsplit

import openai

log = logging.getLogger(__name__)

MAX_WAIT_S = 60.0            # cap of a backoff wait and of an honoured Retry-After
JITTER = 0.25                # a wait is stretched by up to this share, drawn from the rng
RETRY_STATUSES = frozenset({408, 409, 429})   # plus every 5xx
PLACEHOLDER_KEY = "no-key"   # local servers want some bearer token, and check none
EXCERPT_CHARS = 300          # how much of a server's error text goes into a message
CHARS_PER_TOKEN = 4          # estimate when a server reports no usage


@dataclass(frozen=True)
class ModelSpec:
    """A model to sample, its share of the calls, and its prices (USD per million tokens)."""

    name: str
    weight: float = 1.0
    input_usd_per_mtok: float = 0.0
    output_usd_per_mtok: float = 0.0

    def __post_init__(self):
        if not self.name:
            raise ValueError("a model needs a name")
        for what in ("weight", "input_usd_per_mtok", "output_usd_per_mtok"):
            value = getattr(self, what)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"model `{self.name}`: {what} must be a number >= 0, not {value}")

    def cost_usd(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input_usd_per_mtok + tokens_out * self.output_usd_per_mtok) / 1e6


@dataclass(frozen=True)
class LLMSettings:
    """Where to send requests and how. `max_tokens` 0 leaves the answer length to the server."""

    base_url: str
    models: tuple[ModelSpec, ...]
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 2.0
    temperature: float = 0.7
    max_tokens: int = 8192

    def __post_init__(self):
        if urlsplit(self.base_url).scheme not in ("http", "https") or not urlsplit(self.base_url).hostname:
            raise ValueError(f"base_url `{self.base_url}` is not an http(s) URL, "
                             f"e.g. http://127.0.0.1:8000/v1")
        if not self.models:
            raise ValueError("at least one model is needed")
        names = [model.name for model in self.models]
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be distinct: {', '.join(names)}")
        if sum(model.weight for model in self.models) <= 0:
            raise ValueError("at least one model needs a weight above 0")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.backoff_s < 0 or self.max_tokens < 0:
            raise ValueError("timeout_s must be > 0, and max_retries, backoff_s, max_tokens >= 0")


@dataclass(frozen=True)
class Completion:
    """One answer. `estimated`: the server reported no usage, tokens are len(text)/4.
    `seconds` covers the whole call, retries and waits included; `attempts` counts requests."""

    text: str
    model: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    seconds: float
    estimated: bool = False
    attempts: int = 1
    finish_reason: str | None = None   # "length": cut at max_tokens, a rewrite may be incomplete


class LLMError(Exception):
    """A call that produced no completion. `fatal`: the run cannot go on (fix the settings,
    the key or the endpoint); otherwise skip this iteration. The message says what to do."""

    def __init__(self, message: str, fatal: bool = False, model: str | None = None):
        super().__init__(message)
        self.message = message
        self.fatal = fatal
        self.model = model


class BudgetExceeded(LLMError):
    """The spending limit was reached before a call; always fatal."""

    def __init__(self, message: str):
        super().__init__(message, fatal=True)


@dataclass
class _Usage:
    calls: int = 0          # completions returned
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    attempts: int = 0       # HTTP requests sent, retries included
    failures: int = 0       # calls that ended in LLMError
    estimated_calls: int = 0


@dataclass(frozen=True)
class _Failure:
    """What one failed attempt means; built inside `except`, raised outside (no chaining)."""

    message: str
    hint: str = ""                       # what to do, after the message
    retry: bool = False
    fatal: bool = False
    fatal_when_exhausted: bool = False   # an unreachable endpoint: fatal once retries run out
    retry_after_s: float | None = None


class LLMClient:
    """Completions from the models of one endpoint; safe to share between threads.

    The budget is checked before each call (calls already in flight can overshoot it by
    their own cost); `spent_usd` is the starting total when a run resumes.
    """

    def __init__(self, settings: LLMSettings, rng: random.Random,
                 budget_usd: float | None = None, spent_usd: float = 0.0):
        self.settings = settings
        self.budget_usd = budget_usd
        self._spent_usd = float(spent_usd)
        self._key = _read_key(settings)              # None: loopback server, no key set
        self._rng = rng
        self._jitter_rng = random.Random(rng.getrandbits(64))
        self._lock = threading.Lock()
        self._usage = {model.name: _Usage() for model in settings.models}
        self._openai = openai.OpenAI(base_url=settings.base_url, api_key=self._key or PLACEHOLDER_KEY,
                                     timeout=settings.timeout_s, max_retries=0)

    def __repr__(self) -> str:
        names = ", ".join(model.name for model in self.settings.models)
        return (f"LLMClient(base_url={self.settings.base_url!r}, models=[{names}], "
                f"spent_usd={self._spent_usd:.6f}, budget_usd={self.budget_usd})")

    def __enter__(self) -> "LLMClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connections."""
        self._openai.close()

    @property
    def spent_usd(self) -> float:
        with self._lock:
            return self._spent_usd

    def usage(self) -> dict[str, dict]:
        """Per model: calls (completions returned), tokens_in, tokens_out, cost_usd,
        attempts (requests sent), failures (calls ending in LLMError), estimated_calls."""
        with self._lock:
            return {name: asdict(usage) for name, usage in self._usage.items()}

    def complete(self, system: str, user: str) -> Completion:
        """One completion from a model drawn by weight. Raises LLMError (see `fatal`)."""
        with self._lock:
            if self.budget_usd is not None and self._spent_usd >= self.budget_usd:
                raise BudgetExceeded(
                    f"the LLM budget of ${self.budget_usd:.2f} is spent (${self._spent_usd:.4f} "
                    f"so far): raise --budget-usd (llm.budget_usd) to go on")
            model = self._rng.choices(self.settings.models,
                                      weights=[m.weight for m in self.settings.models])[0]
        start = time.monotonic()
        try:
            body, attempts = self._request(model, system, user)
            # Redacted before anything is cut from it or kept: a server may echo the headers.
            text, usage, finish_reason, problem = _decode(self._redact(body))
            tokens_in, tokens_out, estimated = _tokens(usage, system + user, text or "")
            cost = self._charge(model, tokens_in, tokens_out, estimated)
            if problem is not None:
                raise self._error(f"model `{model.name}` at {self.settings.base_url} answered "
                                  f"{problem}", fatal=False, model=model)
        except LLMError:
            with self._lock:
                self._usage[model.name].failures += 1
            raise
        with self._lock:
            self._usage[model.name].calls += 1
        return Completion(text=text, model=model.name, tokens_in=tokens_in, tokens_out=tokens_out,
                          cost_usd=cost, seconds=time.monotonic() - start, estimated=estimated,
                          attempts=attempts, finish_reason=finish_reason)

    # --- one call, retried -----------------------------------------------------------------

    def _request(self, model: ModelSpec, system: str, user: str) -> tuple[str, int]:
        """The body of the first 2xx answer, and how many requests it took."""
        settings = self.settings
        messages = ([{"role": "system", "content": system}] if system else []) + \
                   [{"role": "user", "content": user}]
        extra = {"max_tokens": settings.max_tokens} if settings.max_tokens else {}
        for attempt in range(1, settings.max_retries + 2):
            with self._lock:
                self._usage[model.name].attempts += 1
            try:
                raw = self._openai.chat.completions.with_raw_response.create(
                    model=model.name, messages=messages, temperature=settings.temperature, **extra)
                return raw.http_response.text, attempt
            except openai.APIStatusError as exc:
                failure = self._status_failure(exc, model)
            except openai.APIConnectionError as exc:     # timeouts included
                failure = self._connection_failure(exc)
            except openai.OpenAIError as exc:
                failure = _Failure(f"the openai client failed: {type(exc).__name__}: {exc}")
            # Raised here, outside `except`, so that no openai exception is chained to ours.
            exhausted = attempt > settings.max_retries
            text = failure.message + _attempts_note(attempt) + (f": {failure.hint}" if failure.hint else "")
            if failure.fatal or (exhausted and failure.fatal_when_exhausted):
                raise self._error(text, fatal=True, model=model)
            if not failure.retry or exhausted:
                raise self._error(f"model `{model.name}` at {settings.base_url}: {text}",
                                  fatal=False, model=model)
            with self._lock:
                wait = retry_delay(attempt, settings.backoff_s, self._jitter_rng, failure.retry_after_s)
            log.warning(self._redact(
                f"model `{model.name}`: {failure.message}; retry {attempt} of "
                f"{settings.max_retries} in {wait:.2f} s"
                + (" (Retry-After)" if failure.retry_after_s is not None else "")))
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _status_failure(self, exc: openai.APIStatusError, model: ModelSpec) -> _Failure:
        status, url, env = exc.status_code, self.settings.base_url, self.settings.api_key_env
        detail = self._server_detail(_response_text(exc))
        if status in (401, 403) and self._key is None:
            return _Failure(f"the endpoint at {url} wants an API key (HTTP {status}: {detail}) "
                            f"and ${env} is not set", fatal=True,
                            hint=f"export {env}=..., or set api_key_env to the variable that "
                                 f"holds the key")
        if status == 401:
            return _Failure(f"the endpoint at {url} rejected the API key in ${env} (HTTP 401: "
                            f"{detail})", fatal=True,
                            hint="check the key, or set api_key_env to the variable that holds "
                                 "the right one")
        if status == 403:
            return _Failure(f"the endpoint at {url} refused the API key in ${env} for model "
                            f"`{model.name}` (HTTP 403: {detail})", fatal=True,
                            hint="the key may lack access to this model")
        if status == 404:
            message, hint = self._not_found(model, detail)
            return _Failure(message, hint=hint, fatal=True)
        if status in RETRY_STATUSES or status >= 500:
            return _Failure(f"HTTP {status} ({detail})", retry=True,
                            retry_after_s=parse_retry_after(exc.response.headers))
        return _Failure(f"HTTP {status} ({detail})",
                        hint="the endpoint refused this request; the next prompt may fare better")

    def _connection_failure(self, exc: openai.APIConnectionError) -> _Failure:
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else ""
        url = self.settings.base_url
        hint = "is the server running, and is base_url right?"
        if cause == "ConnectTimeout":
            return _Failure(f"cannot reach the LLM endpoint at {url} (connecting timed out)",
                            hint=hint, retry=True, fatal_when_exhausted=True)
        if isinstance(exc, openai.APITimeoutError):
            return _Failure(f"no answer within {self.settings.timeout_s:g} s (timeout_s)", retry=True)
        if cause == "ConnectError":
            reason = self._server_detail(str(exc.__cause__)) if str(exc.__cause__) else "refused"
            return _Failure(f"cannot reach the LLM endpoint at {url} ({reason})",
                            hint=hint, retry=True, fatal_when_exhausted=True)
        return _Failure(f"the connection broke ({cause or 'connection error'})", retry=True)

    def _not_found(self, model: ModelSpec, detail: str) -> tuple[str, str]:
        """(message, hint) for a 404: a wrong model name or a wrong base URL; /models tells."""
        url = self.settings.base_url
        names = self._listed_models()
        if names is None:
            return (f"no OpenAI-compatible API answers at {url} (HTTP 404 for chat/completions "
                    f"and for models: {detail})",
                    "check base_url; OpenAI-compatible servers usually serve under /v1, "
                    "e.g. http://127.0.0.1:8000/v1")
        if model.name in names:
            return (f"the endpoint at {url} answered 404 for model `{model.name}` ({detail}) "
                    f"though it lists that model", "check base_url")
        offered = ", ".join(f"`{name}`" for name in names[:20]) or "none"
        return (f"model `{model.name}` not found at {url} ({detail})",
                f"the server offers: {offered}")

    def _listed_models(self) -> list[str] | None:
        try:
            raw = self._openai.with_options(timeout=min(10.0, self.settings.timeout_s)) \
                .models.with_raw_response.list()
            return [str(item["id"]) for item in json.loads(raw.http_response.text)["data"]]
        except (openai.OpenAIError, ValueError, KeyError, TypeError):
            return None

    # --- accounting and secrecy ------------------------------------------------------------

    def _charge(self, model: ModelSpec, tokens_in: int, tokens_out: int, estimated: bool) -> float:
        cost = model.cost_usd(tokens_in, tokens_out)
        with self._lock:
            usage = self._usage[model.name]
            usage.tokens_in += tokens_in
            usage.tokens_out += tokens_out
            usage.cost_usd += cost
            usage.estimated_calls += estimated
            self._spent_usd += cost
        return cost

    def _error(self, message: str, fatal: bool, model: ModelSpec) -> LLMError:
        return LLMError(self._redact(message), fatal=fatal, model=model.name)

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

    def _server_detail(self, text: str) -> str:
        """The server's own message, redacted before it is cut (a cut key would leak a part)."""
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            error = data.get("error", data)
            if isinstance(error, dict) and isinstance(error.get("message"), str):
                text = error["message"]
            elif isinstance(error, str):
                text = error
            elif isinstance(data.get("detail"), str):
                text = data["detail"]
        return _excerpt(self._redact(text)) or "no message"


def _read_key(settings: LLMSettings) -> str | None:
    key = os.environ.get(settings.api_key_env, "")
    if key:
        return key
    if is_loopback(settings.base_url):
        return None
    raise LLMError(f"no API key: the environment variable ${settings.api_key_env} is not set, "
                   f"and {settings.base_url} is not a local server; export "
                   f"{settings.api_key_env}=..., or set api_key_env to the variable that holds "
                   f"the key", fatal=True)


def is_loopback(base_url: str) -> bool:
    """Whether the URL names this machine (a local server that needs no key)."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_delay(retry: int, backoff_s: float, rng: random.Random,
                retry_after_s: float | None = None) -> float:
    """Seconds to wait before retry number `retry` (1 for the first): the server's
    Retry-After when it sent one, else backoff_s * 2**(retry-1) stretched by up to 25%
    drawn from rng (so that clients started together do not retry together); both capped."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), MAX_WAIT_S)
    base = backoff_s * 2.0 ** min(retry - 1, 30)
    return min(base * (1.0 + JITTER * rng.random()), MAX_WAIT_S)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds asked for by `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = lowered.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                seconds = when.timestamp() - (time.time() if now is None else now)
            except (TypeError, ValueError):
                continue
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    return None


def _decode(body: str) -> tuple[str | None, dict, str | None, str | None]:
    """(text, usage, finish_reason, problem) of a chat-completion body; problem is None
    when the text is usable."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, {}, None, f"a body that is not JSON: {_excerpt(body) or 'empty'}"
    if not isinstance(data, dict):
        return None, {}, None, f"JSON that is not an object: {_excerpt(body)}"
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        error = data.get("error")
        what = f" (error: {_excerpt(json.dumps(error))})" if error else ""
        return None, usage, None, f"with no choices{what}"
    reason = choices[0].get("finish_reason")
    reason = reason if isinstance(reason, str) else None
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str) or not content.strip():
        return None, usage, reason, f"with empty content (finish_reason: {reason})"
    return content, usage, reason, None


def _tokens(usage: dict, prompt: str, text: str) -> tuple[int, int, bool]:
    """Token counts from the server's usage; what it left out is estimated as chars / 4."""
    tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    estimated = False
    if not isinstance(tokens_in, int) or tokens_in < 0:
        tokens_in, estimated = -(-len(prompt) // CHARS_PER_TOKEN), True
    if not isinstance(tokens_out, int) or tokens_out < 0:
        tokens_out, estimated = -(-len(text) // CHARS_PER_TOKEN), True
    return tokens_in, tokens_out, estimated


def _response_text(exc: openai.APIStatusError) -> str:
    try:
        return exc.response.text
    except Exception:  # a body that cannot be read any more: the status says enough
        return ""


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."


def _attempts_note(attempts: int) -> str:
    return f" (after {attempts} attempts)" if attempts > 1 else ""
