"""The same matrix for every CLI: the real pinned CLI, a live cliwrap, a stub model API.

Each row runs through the OpenAI SDK (or raw HTTP for the wire details) against one shared
server, whose CLIs all talk to one stub that serves the four model APIs. What differs
between the CLIs (which API they call, whether they think aloud) is data in :data:`CLIS`.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import openai
import pytest

from cliwrap.providers.base import WORK_DIR
from cliwrap.testing import LiveServer, Recorded, StubThread, group_alive

from .conftest import SdkFactory, ServerFactory

HANG_GUARD = 30.0
"""Seconds a wait may take before the test fails: only so a regression cannot hang the suite."""


@attrs.frozen
class Cli:
    name: str
    model: str
    """A model name that routes to this CLI."""
    api: str
    """The path prefix of the model API it calls on the stub."""
    thinks: bool
    """Whether the CLI passes the model's thinking on."""
    overload: int
    """The status its API uses for "overloaded"."""
    tells_retry_delay: bool
    """Whether cliwrap learns the backend's Retry-After (a tap on the CLI's model calls, or the
    CLI's own report), and so can send it on."""

    def __str__(self) -> str:
        return self.name


CLIS = (
    Cli("claude", "sonnet", "/v1/messages", thinks=True, overload=529, tells_retry_delay=True),
    Cli(
        "gemini", "gemini-2.5-flash", "/v1beta/", thinks=False, overload=503, tells_retry_delay=True
    ),
    Cli(
        "qwen",
        "qwen3-coder-plus",
        "/v1/chat/completions",
        thinks=True,
        overload=503,
        tells_retry_delay=True,
    ),
    Cli("codex", "gpt-5.5", "/v1/responses", thinks=True, overload=503, tells_retry_delay=False),
)
each_cli = pytest.mark.parametrize("cli", CLIS, ids=str)


def marker() -> str:
    return uuid.uuid4().hex[:12]


def chat(cli: Cli, content: str, *, system: str | None = None, **extra: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": content})
    return {"model": cli.model, "messages": messages, **extra}


def model_requests(stub: StubThread, cli: Cli, tag: str) -> list[Recorded]:
    return [r for r in stub.find(tag) if r.path.startswith(cli.api)]


def tools(body: dict[str, Any]) -> list[Any]:
    """The tools a model request offers (Gemini CLI always sends an empty declaration list)."""
    return [d for t in body.get("tools") or [] for d in t.get("functionDeclarations", [t])]


def system_text(cli: Cli, body: dict[str, Any]) -> str:
    """The system prompt as the model API received it, wherever that API carries it."""
    if cli.api == "/v1/messages":
        return json.dumps(body.get("system"))
    if cli.api.startswith("/v1beta"):
        return json.dumps(body.get("systemInstruction"))
    if cli.api == "/v1/chat/completions":
        return json.dumps([m for m in body["messages"] if m["role"] == "system"])
    items = body.get("input") or []
    return json.dumps(
        [body.get("instructions"), [i for i in items if i.get("role") in ("system", "developer")]]
    )


@each_cli
def test_non_streaming_answer_with_usage(cli: Cli, server: LiveServer, sdk: SdkFactory) -> None:
    tag = marker()
    think = "[[think:weighing it]]" if cli.thinks else ""
    reply = sdk(server).chat.completions.create(**chat(cli, f"hello {tag} {think}"))
    choice = reply.choices[0]
    assert choice.message.content == f"echo: hello {tag}"
    assert choice.finish_reason == "stop"
    assert reply.model == cli.model
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert reply.usage.completion_tokens > 0
    if cli.thinks:
        assert choice.message.model_extra is not None
        assert choice.message.model_extra["reasoning_content"] == "weighing it"


@each_cli
def test_streaming_token_by_token(cli: Cli, server: LiveServer, sdk: SdkFactory) -> None:
    think = "[[think:first this, then that]]" if cli.thinks else ""
    stream = sdk(server).chat.completions.create(
        **chat(cli, f"[[reply:one two three four]] [[chunk:4]] {think}"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    content = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(content) == "one two three four"
    assert len(content) >= 4, f"the answer came in {len(content)} pieces, not token by token"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    if cli.thinks:
        reasoning = [
            (c.choices[0].delta.model_extra or {}).get("reasoning_content") or ""
            for c in chunks
            if c.choices
        ]
        assert "".join(reasoning) == "first this, then that"


@each_cli
def test_model_request_has_no_tools_and_carries_system_and_history(
    cli: Cli, server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    tag, rule = marker(), marker()
    sdk(server).chat.completions.create(
        model=cli.model,
        messages=[
            {"role": "system", "content": f"Always {rule}."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "first answer"},
            {"role": "user", "content": f"second question {tag}"},
        ],
    )
    (request,) = model_requests(stub, cli, tag)  # one model call, no side requests
    body = request.body
    assert not tools(body), f"{cli} sent tools: {json.dumps(body.get('tools'))[:300]}"
    assert rule in system_text(cli, body)
    sent = json.dumps(body)
    assert sent.index("first question") < sent.index("first answer") < sent.index("second question")


@each_cli
def test_runs_in_a_private_directory_that_is_removed(
    cli: Cli, eager_server: LiveServer, sdk: SdkFactory
) -> None:
    with held_run(cli, eager_server) as pgid:
        cwd = Path(f"/proc/{pgid}/cwd").readlink()
        environ = Path(f"/proc/{pgid}/environ").read_bytes().split(b"\0")
    # It runs in the run directory's work folder; cliwrap's own files are beside it.
    assert cwd.name == WORK_DIR
    workdir = cwd.parent
    assert workdir.parent == Path(tempfile.gettempdir())
    # A run of its own, or a conversation's live process (ended by this disconnect).
    assert workdir.name.startswith(("cliwrap-run-", "cliwrap-session-"))
    variables = dict(v.decode().partition("=")[::2] for v in environ if b"=" in v)
    assert variables["TMPDIR"] == str(workdir)
    assert not any(key.startswith("CLIWRAP_") for key in variables)
    if cli.name in ("gemini", "qwen"):  # Claude and Codex keep the user's (their logins)
        assert variables["HOME"] == str(workdir / "home")
    deadline = time.monotonic() + HANG_GUARD
    while workdir.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not workdir.exists()


FAULTS = [
    pytest.param("[[fail:401]]", openai.AuthenticationError, 401, id="auth"),
    pytest.param("[[fail:429 retry-after=3]]", openai.RateLimitError, 429, id="rate-limit"),
    pytest.param("[[fail:OVERLOAD]]", openai.InternalServerError, 503, id="overload"),
    pytest.param("[[fail:500]]", openai.InternalServerError, 502, id="server-error"),
    pytest.param("[[fail:400]]", openai.BadRequestError, 400, id="bad-request"),
    pytest.param("[[overflow]]", openai.BadRequestError, 400, id="context-overflow"),
    pytest.param("[[drop]] [[reply:cut off]]", openai.InternalServerError, 502, id="dropped"),
]


@each_cli
@pytest.mark.parametrize(("directive", "error", "status"), FAULTS)
def test_backend_faults_map_to_typed_errors(
    cli: Cli,
    server: LiveServer,
    stub: StubThread,
    sdk: SdkFactory,
    directive: str,
    error: type[openai.APIStatusError],
    status: int,
) -> None:
    directive = directive.replace("OVERLOAD", str(cli.overload))
    tag = f"fault-{uuid.uuid4().hex}"
    with pytest.raises(error) as caught:
        sdk(server).chat.completions.create(**chat(cli, f"hi {tag} {directive}"))
    assert caught.value.status_code == status
    # Bounded retries, counted rather than timed: a handful of model calls at most (Claude
    # Code retries a 400 in another shape and falls back to a non-streaming call after a
    # dropped stream; Codex's HTTP retries, four by default, belong to its model provider).
    asked = len(model_requests(stub, cli, tag))
    most = 5
    assert 1 <= asked <= most, f"{cli} asked the model {asked} times: its retries must be bounded"
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["message"]
    assert "test-key" not in json.dumps(body)
    if directive == "[[overflow]]":
        assert body["code"] == "context_length_exceeded"
    if status == 429 and cli.tells_retry_delay:
        assert caught.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize("cli", [c for c in CLIS if c.tells_retry_delay], ids=str)
def test_the_backends_retry_after_on_an_overload_reaches_the_client(
    cli: Cli, server: LiveServer
) -> None:
    # Only the header carries it: no API's overload body says when to come back.
    directive = f"[[fail:{cli.overload} retry-after=4]]"
    response = httpx.post(
        server.base_url + "/chat/completions", json=chat(cli, f"hi {directive}"), timeout=30
    )
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "overloaded_error"
    assert response.headers["retry-after"] == "4"


@each_cli
def test_a_failure_before_the_stream_began_is_its_own_status(cli: Cli, server: LiveServer) -> None:
    response = httpx.post(
        server.base_url + "/chat/completions",
        json=chat(cli, "x [[fail:401]]", stream=True),
        timeout=30,
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.fixture(scope="module")
def eager_server(start_server: ServerFactory) -> LiveServer:
    """Keepalives every 0.3 s: a stream has begun long before a held model call fails."""
    return start_server(server={"keepalive_interval": 0.3})


@each_cli
def test_failure_mid_stream_is_an_error_event_then_done(cli: Cli, eager_server: LiveServer) -> None:
    with httpx.stream(
        "POST",
        eager_server.base_url + "/chat/completions",
        json=chat(cli, "x [[hold:2]] [[fail:401]]", stream=True),
        timeout=30,
    ) as response:
        assert response.status_code == 200
        lines = list(response.iter_lines())
    assert any(line.startswith(":") for line in lines)  # the keepalive that began it
    events = [line for line in lines if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    error = json.loads(events[-2].removeprefix("data: "))["error"]
    assert error["type"] == "authentication_error"


def _new_group(server: LiveServer, before: set[int]) -> int:
    deadline = time.monotonic() + HANG_GUARD
    while time.monotonic() < deadline:
        new = [g for g in server.pgids() if g not in before]
        if new:
            return new[0]
        time.sleep(0.005)
    raise AssertionError(f"no CLI started\n{server.log}")


@contextlib.contextmanager
def held_run(cli: Cli, server: LiveServer) -> Iterator[int]:
    """A streaming request whose model never answers; its CLI's process group while open.

    ``server`` should send keepalives often (``eager_server``): a stream's headers come with
    its first event or keepalive."""
    before = set(server.pgids())
    with httpx.stream(
        "POST",
        server.base_url + "/chat/completions",
        json=chat(cli, "[[hold:30]]", stream=True),
        timeout=30,
    ) as response:
        lines = response.iter_lines()  # keep it: a dropped iterator closes the connection
        next(lines)  # the role chunk: the run has begun
        yield _new_group(server, before)


def _disconnect_and_time(cli: Cli, server: LiveServer) -> float:
    with held_run(cli, server) as pgid:
        time.sleep(0.5)  # the CLI is up and waiting for the model
        assert group_alive(pgid)
    closed = time.monotonic()
    while group_alive(pgid) and time.monotonic() - closed < HANG_GUARD:
        time.sleep(0.001)
    assert not group_alive(pgid)
    return time.monotonic() - closed


@each_cli
def test_client_disconnect_ends_the_cli_group(cli: Cli, eager_server: LiveServer) -> None:
    # How fast the group is gone is a benchmark (docs/benchmarks.md), not a test: a busy
    # machine may take longer. Here: the group ends, every time.
    for _ in range(3):
        _disconnect_and_time(cli, eager_server)


@pytest.fixture(scope="module")
def short_server(start_server: ServerFactory) -> LiveServer:
    return start_server(deadlines={"total": 2.0})


@each_cli
def test_total_deadline_is_504(cli: Cli, short_server: LiveServer, sdk: SdkFactory) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(short_server).chat.completions.create(**chat(cli, "[[hold:30]]"))
    assert caught.value.status_code == 504
    # Not before the deadline; how exactly on time is tested on the MockClock (tests/runtime).
    assert 2.0 <= time.monotonic() - started < HANG_GUARD
    with pytest.raises(openai.APIError, match="deadline"):  # mid-stream: an error event
        list(sdk(short_server).chat.completions.create(**chat(cli, "[[hold:30]]"), stream=True))
    # The turn's CLI is interrupted, then ended (a conversation's next turn gets a new one).
    deadline = time.monotonic() + HANG_GUARD
    while short_server.pgids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert short_server.pgids() == []
