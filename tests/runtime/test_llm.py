"""The LLM client against a real OpenAI-compatible server on loopback, through the real
`openai` package: retries, fatal stops, malformed answers, accounting, budget, secrecy."""
import random
import socket
import threading

import pytest

from adrs_spec.runtime.llm import (BudgetExceeded, LLMClient, LLMError, LLMSettings, ModelSpec,
                                   is_loopback, parse_retry_after, retry_delay)
from openai_server import Reply, scripted_server  # noqa: F401 (a fixture)

ENV = "ADRS_TEST_LLM_KEY"
KEY = "sk-test-7f3a9c1e5b2d4f6a8e0c"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv(ENV, KEY)
    return KEY


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def make_client(base_url, *models, seed=0, budget_usd=None, spent_usd=0.0, **settings):
    settings = {"api_key_env": ENV, "timeout_s": 5.0, "max_retries": 2, "backoff_s": 0.01,
                **settings}
    llm_settings = LLMSettings(base_url=base_url, models=models or (ModelSpec("m"),), **settings)
    return LLMClient(llm_settings, random.Random(seed), budget_usd=budget_usd, spent_usd=spent_usd)


def fails(client, system="sys", user="usr") -> LLMError:
    with pytest.raises(LLMError) as caught:
        client.complete(system, user)
    return caught.value


def test_completion_sends_the_prompt_and_counts_reported_usage(scripted_server, key):
    server = scripted_server([Reply("def f(): pass", prompt_tokens=250_000, completion_tokens=125_000)])
    client = make_client(server.base_url, ModelSpec("m", input_usd_per_mtok=2.0, output_usd_per_mtok=8.0))
    completion = client.complete("you write code", "improve this")
    assert (completion.text, completion.model, completion.tokens_in, completion.tokens_out,
            completion.cost_usd, completion.estimated, completion.attempts,
            completion.finish_reason) == ("def f(): pass", "m", 250_000, 125_000, 1.5, False, 1, "stop")
    assert client.spent_usd == 1.5
    assert client.usage() == {"m": {"calls": 1, "tokens_in": 250_000, "tokens_out": 125_000,
                                    "cost_usd": 1.5, "attempts": 1, "failures": 0,
                                    "estimated_calls": 0}}
    request = server.requests[0]
    assert request["model"] == "m"
    assert request["messages"] == [{"role": "system", "content": "you write code"},
                                   {"role": "user", "content": "improve this"}]
    assert (request["temperature"], request["max_tokens"]) == (0.7, 8192)
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"
    assert server.paths == ["POST /v1/chat/completions"]


def test_missing_usage_is_estimated_from_the_text(scripted_server, key):
    server = scripted_server([Reply("x" * 41), Reply("y" * 8, prompt_tokens=7)])
    client = make_client(server.base_url, ModelSpec("m", input_usd_per_mtok=1e6, output_usd_per_mtok=1e6))
    first = client.complete("s" * 8, "u" * 13)        # 21 prompt chars -> 6 tokens; 41 -> 11
    assert (first.tokens_in, first.tokens_out, first.cost_usd, first.estimated) == (6, 11, 17.0, True)
    second = client.complete("s" * 8, "u" * 13)       # the server reported the prompt only
    assert (second.tokens_in, second.tokens_out, second.estimated) == (7, 2, True)
    assert client.usage()["m"]["estimated_calls"] == 2


def test_429_is_retried_and_only_the_answer_counts_tokens(scripted_server, key, caplog):
    server = scripted_server([Reply("slow down", status=429),
                              Reply("ok", prompt_tokens=10, completion_tokens=4)])
    client = make_client(server.base_url)
    completion = client.complete("s", "u")
    assert (completion.text, completion.attempts) == ("ok", 2)
    assert len(server.requests) == 2
    assert client.usage()["m"] == {"calls": 1, "tokens_in": 10, "tokens_out": 4, "cost_usd": 0.0,
                                   "attempts": 2, "failures": 0, "estimated_calls": 0}
    assert "model `m`: HTTP 429 (slow down); retry 1 of 2 in" in caplog.text


@pytest.mark.parametrize("headers, logged", [({"Retry-After": "0.05"}, "in 0.05 s (Retry-After)"),
                                             ({"retry-after-ms": "30"}, "in 0.03 s (Retry-After)")])
def test_retry_after_is_honoured(scripted_server, key, caplog, headers, logged):
    server = scripted_server([Reply(status=429, headers=headers), Reply("ok")])
    assert make_client(server.base_url).complete("s", "u").text == "ok"
    assert logged in caplog.text


@pytest.mark.parametrize("failure", [Reply("boom", status=500), Reply(status=502), Reply(drop=True)])
def test_server_errors_and_resets_are_retried(scripted_server, key, failure):
    server = scripted_server([failure, failure, Reply("ok")])
    completion = make_client(server.base_url).complete("s", "u")
    assert (completion.text, completion.attempts, len(server.requests)) == ("ok", 3, 3)


def test_server_errors_past_the_retries_skip_the_iteration(scripted_server, key):
    server = scripted_server([Reply("overloaded", status=503)])
    client = make_client(server.base_url)
    error = fails(client)
    assert not error.fatal
    assert error.model == "m"
    assert str(error) == f"model `m` at {server.base_url}: HTTP 503 (overloaded) (after 3 attempts)"
    assert len(server.requests) == 3
    assert client.usage()["m"] == {"calls": 0, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0,
                                   "attempts": 3, "failures": 1, "estimated_calls": 0}


def test_a_rejected_request_is_not_retried(scripted_server, key):
    server = scripted_server([Reply("maximum context length exceeded", status=400)])
    error = fails(make_client(server.base_url))
    assert not error.fatal
    assert str(error) == (f"model `m` at {server.base_url}: HTTP 400 (maximum context length "
                          f"exceeded): the endpoint refused this request; the next prompt may fare better")
    assert len(server.requests) == 1


def test_401_stops_the_run_and_names_the_variable(scripted_server, key):
    server = scripted_server([Reply("Incorrect API key provided", status=401)])
    error = fails(make_client(server.base_url))
    assert error.fatal
    assert str(error) == (f"the endpoint at {server.base_url} rejected the API key in ${ENV} "
                          f"(HTTP 401: Incorrect API key provided): check the key, or set "
                          f"api_key_env to the variable that holds the right one")
    assert len(server.requests) == 1


def test_403_stops_the_run(scripted_server, key):
    server = scripted_server([Reply("no access", status=403)])
    error = fails(make_client(server.base_url, ModelSpec("big")))
    assert error.fatal
    assert str(error) == (f"the endpoint at {server.base_url} refused the API key in ${ENV} for "
                          f"model `big` (HTTP 403: no access): the key may lack access to this model")


def test_key_never_appears_in_errors_logs_or_repr(scripted_server, key, caplog):
    def echo(request):
        seen = server.headers[-1]["authorization"]
        case = request["messages"][-1]["content"]
        if case == "cut 401":      # the key straddles the end of the excerpt in the message
            return Reply("x" * 280 + seen, status=401)
        if case == "cut 200":
            return Reply(raw_body="x" * 280 + seen)
        if case == "200":
            return Reply(raw_body=f"<html>proxy saw {seen}</html>")
        return Reply(f"bad header {seen}", status=int(case))

    server = scripted_server(echo)
    client = make_client(server.base_url, max_retries=1)
    errors = [fails(client, user=user) for user in ("401", "500", "200", "cut 401", "cut 200")]
    assert [error.fatal for error in errors] == [True, False, False, True, False]
    assert "bad header Bearer ***" in str(errors[0])
    assert "bad header Bearer ***" in str(errors[1])
    assert "proxy saw Bearer ***" in str(errors[2])
    for error in errors:
        assert KEY[:8] not in str(error) and KEY[:8] not in repr(error.args)
        assert error.__context__ is None and error.__cause__ is None
    assert "Bearer ***" in caplog.text and KEY[:8] not in caplog.text
    assert KEY[:8] not in repr(client)
    assert server.headers[0]["authorization"] == f"Bearer {KEY}"


def test_no_key_on_loopback_sends_a_placeholder(scripted_server, no_key):
    server = scripted_server([Reply("ok"), Reply("login first", status=401)])
    client = make_client(server.base_url)
    assert client.complete("s", "u").text == "ok"
    assert server.headers[0]["authorization"] == "Bearer no-key"
    error = fails(client)
    assert error.fatal
    assert str(error) == (f"the endpoint at {server.base_url} wants an API key (HTTP 401: login "
                          f"first) and ${ENV} is not set: export {ENV}=..., or set api_key_env "
                          f"to the variable that holds the key")


def test_no_key_for_a_remote_endpoint_is_fatal_before_any_request(no_key):
    with pytest.raises(LLMError) as caught:
        make_client("https://llm.example.com/v1")
    assert caught.value.fatal
    assert str(caught.value) == (f"no API key: the environment variable ${ENV} is not set, and "
                                 f"https://llm.example.com/v1 is not a local server; export "
                                 f"{ENV}=..., or set api_key_env to the variable that holds the key")


def test_404_names_the_model_and_what_the_server_offers(scripted_server, key):
    server = scripted_server([Reply("ok")], models=("qwen-coder", "llama"))
    error = fails(make_client(server.base_url, ModelSpec("qwen-cooder")))
    assert error.fatal
    assert str(error) == (f"model `qwen-cooder` not found at {server.base_url} (The model "
                          f"`qwen-cooder` does not exist.): the server offers: `qwen-coder`, `llama`")
    assert server.paths == ["POST /v1/chat/completions", "GET /v1/models"]


def test_404_from_a_wrong_base_url(scripted_server, key):
    server = scripted_server([Reply("ok")])
    base_url = server.url + "/api"
    error = fails(make_client(base_url))
    assert error.fatal
    assert str(error) == (f"no OpenAI-compatible API answers at {base_url} (HTTP 404 for "
                          f"chat/completions and for models: Not Found): check base_url; "
                          f"OpenAI-compatible servers usually serve under /v1, e.g. "
                          f"http://127.0.0.1:8000/v1")


def test_an_answer_slower_than_the_timeout_is_retried_then_skipped(scripted_server, key):
    server = scripted_server([Reply("too late", delay_s=30)])
    client = make_client(server.base_url, timeout_s=0.2, max_retries=1)
    error = fails(client)
    assert not error.fatal
    assert str(error) == (f"model `m` at {server.base_url}: no answer within 0.2 s (timeout_s) "
                          f"(after 2 attempts)")
    assert len(server.requests) == 2
    assert client.usage()["m"]["failures"] == 1


@pytest.mark.parametrize("reply, problem", [
    (Reply(raw_body="<html>Bad gateway</html>"), "a body that is not JSON: <html>Bad gateway</html>"),
    (Reply(raw_body='{"choices": []}'), "with no choices"),
    (Reply(raw_body='{"error": {"message": "overloaded"}}'),
     'with no choices (error: {"message": "overloaded"})'),
    (Reply(""), "with empty content (finish_reason: stop)"),
])
def test_a_malformed_answer_skips_the_iteration(scripted_server, key, reply, problem):
    server = scripted_server([reply])
    client = make_client(server.base_url)
    error = fails(client)
    assert not error.fatal
    assert str(error) == f"model `m` at {server.base_url} answered {problem}"
    assert len(server.requests) == 1
    assert client.usage()["m"]["failures"] == 1


def test_models_are_drawn_by_weight_from_the_seed(scripted_server, key):
    server = scripted_server(lambda request: Reply(request["model"]))
    models = (ModelSpec("big", weight=3.0), ModelSpec("small", weight=1.0))
    client = make_client(server.base_url, *models, seed=7)
    picked = [client.complete("s", "u").model for _ in range(200)]
    assert (picked.count("big"), picked.count("small")) == (152, 48)
    assert [request["model"] for request in server.requests] == picked
    assert {name: usage["calls"] for name, usage in client.usage().items()} == {"big": 152, "small": 48}
    again = make_client(server.base_url, *models, seed=7)
    assert [again.complete("s", "u").model for _ in range(20)] == picked[:20]


def test_budget_stops_before_the_next_call(scripted_server, key):
    server = scripted_server([Reply("ok", prompt_tokens=100_000, completion_tokens=50_000)])
    model = ModelSpec("m", input_usd_per_mtok=2.0, output_usd_per_mtok=8.0)   # 0.6 USD a call
    client = make_client(server.base_url, model, budget_usd=1.0)
    assert [client.complete("s", "u").cost_usd for _ in range(2)] == [0.6, 0.6]
    with pytest.raises(BudgetExceeded) as caught:
        client.complete("s", "u")
    assert caught.value.fatal
    assert str(caught.value) == ("the LLM budget of $1.00 is spent ($1.2000 so far): "
                                 "raise --budget-usd (llm.budget_usd) to go on")
    assert len(server.requests) == 2
    resumed = make_client(server.base_url, model, budget_usd=1.0, spent_usd=1.0)
    with pytest.raises(BudgetExceeded):
        resumed.complete("s", "u")
    assert len(server.requests) == 2


def test_an_unreachable_endpoint_is_fatal_after_the_retries(key):
    with socket.socket() as bound:          # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{bound.getsockname()[1]}/v1"
        client = make_client(base_url)
        error = fails(client)
    assert error.fatal
    assert str(error).startswith(f"cannot reach the LLM endpoint at {base_url} (")
    assert str(error).endswith("(after 3 attempts): is the server running, and is base_url right?")
    assert client.usage()["m"]["attempts"] == 3


def test_concurrent_calls_are_all_counted(scripted_server, key):
    server = scripted_server([Reply("ok", prompt_tokens=3, completion_tokens=2)])
    client = make_client(server.base_url, ModelSpec("m", output_usd_per_mtok=1e6))
    threads = [threading.Thread(target=lambda: [client.complete("s", "u") for _ in range(5)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.usage()["m"] == {"calls": 20, "tokens_in": 60, "tokens_out": 40, "cost_usd": 40.0,
                                   "attempts": 20, "failures": 0, "estimated_calls": 0}
    assert client.spent_usd == 40.0


def test_retry_delay_doubles_with_jitter_and_is_capped():
    draws = random.Random(3)
    expected = [2.0 * 2 ** (retry - 1) * (1 + 0.25 * draws.random()) for retry in (1, 2, 3)]
    rng = random.Random(3)
    assert [retry_delay(retry, 2.0, rng) for retry in (1, 2, 3)] == expected
    assert retry_delay(10, 1.0, rng) == 60.0
    assert retry_delay(10_000, 1.0, rng) == 60.0
    assert retry_delay(1, 2.0, rng, retry_after_s=5.0) == 5.0
    assert retry_delay(1, 2.0, rng, retry_after_s=3600.0) == 60.0


def test_parse_retry_after():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"},
                             now=1445412480.0) == 10.0
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412500.0) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_is_loopback():
    assert [is_loopback(url) for url in ("http://127.0.0.1:8000/v1", "http://localhost/v1",
                                         "http://[::1]:11434/v1", "http://127.0.0.2/v1",
                                         "https://api.openai.com/v1", "http://10.0.0.5:8000/v1")] \
        == [True, True, True, True, False, False]


@pytest.mark.parametrize("make, message", [
    (lambda: LLMSettings("localhost:8000", (ModelSpec("m"),)), "base_url `localhost:8000` is not"),
    (lambda: LLMSettings("http://h/v1", ()), "at least one model is needed"),
    (lambda: LLMSettings("http://h/v1", (ModelSpec("a"), ModelSpec("a"))), "must be distinct: a, a"),
    (lambda: LLMSettings("http://h/v1", (ModelSpec("a", weight=0),)), "a weight above 0"),
    (lambda: ModelSpec("a", weight=-1), "model `a`: weight must be a number >= 0, not -1"),
])
def test_settings_are_checked(make, message):
    with pytest.raises(ValueError, match=message.replace("`", ".").replace("(", ".").replace(")", ".")):
        make()
