"""Fixtures of the runtime tests: scripted OpenAI-compatible servers on loopback."""
import pytest

from openai_server import ScriptedServer


@pytest.fixture
def scripted_server():
    """Start servers with `scripted_server(replies, models=())`; all are stopped after the test."""
    started = []

    def start(replies, models=()):
        server = ScriptedServer(replies, models).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
