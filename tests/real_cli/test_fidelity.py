"""What reaches the model beyond what the client sent, per CLI: docs/fidelity.md, kept true.

Each CLI gets one request with a system prompt and one without, through the shared server;
the stub's record of the model request is taken apart into the texts it carries (system
parts and turns). The client's system prompt must be one of them as it was sent, the user's
text another, unprefixed; every other text must be one of the CLI's :data:`REMAINS`, the
things the table says the CLI cannot be made to drop. Whatever else a CLI adds (an agent
persona, an environment turn, a reminder, a path, a listing of cliwrap's files) fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest

from cliwrap.testing import LiveServer, StubThread, provider_tables

from .conftest import SdkFactory, ServerFactory
from .test_cli_matrix import CLIS, Cli, each_cli, marker, model_requests

DOC = Path(__file__).resolve().parents[2] / "docs" / "fidelity.md"
SYSTEM = "You answer in one short sentence, and always in French."


@attrs.frozen
class Remains:
    """Something a CLI adds that it cannot be made to drop: a row of docs/fidelity.md."""

    what: str
    """Its name in the table (the test checks the table names it)."""
    pattern: str
    """The whole text, as a regular expression."""

    def matches(self, text: str) -> bool:
        return re.fullmatch(self.pattern, text, re.S) is not None


IDENTITY = Remains(
    "the identity line", re.escape("You are a Claude agent, built on Anthropic's Claude Agent SDK.")
)
REMAINS: dict[str, tuple[Remains, ...]] = {
    "claude": (IDENTITY,),
    "gemini": (
        Remains(
            "the session context",
            r"<session_context>\nThis is the Gemini CLI\. We are setting up the context for our"
            r" chat\.\nToday's date is [^\n]+\.\nMy operating system is: \w+\n"
            r"The project's temporary directory is: \.\./home/\.gemini/tmp/work\s*"
            r"</session_context>",
        ),
    ),
    "qwen": (
        Remains(
            "the skills reminder",
            r"<system-reminder>\nNo skills are currently available\.[^\n]*\n</system-reminder>",
        ),
        Remains(
            "the startup context",
            # The working directory, listed: an empty folder (nothing of cliwrap's in it).
            r"<system-reminder>\nThis is the Qwen Code\. We are setting up the context for our"
            r" chat\.\nToday's date is [^\n]+\.\nMy operating system is: \w+\n"
            r"I'm currently working in the directory: (?P<dir>/[^\n]+/work)\n"
            r"Here is the folder structure of the current working directories:\n\n"
            r"Showing up to \d+ items:\n\n(?P=dir)/\n</system-reminder>",
        ),
        Remains(
            "the date reminder",
            r"<system-reminder>\nThe current date is: [^\n]+\n</system-reminder>",
        ),
    ),
    "codex": (),
}
LOGIN_REMAINS = (
    IDENTITY,
    Remains(
        "the environment turn",
        r"# Environment\nYou have been invoked in the following environment: \n"
        r" - Primary working directory: /[^\n]+/work\n.*Today's date is [\d-]+\.",
    ),
)
"""Claude Code on a login (no API key): bare mode would not read the login."""

PERSONAS = (
    "Claude Code",
    "You are an agent working with the user",
    "non-interactive CLI agent",
    "You are Qwen Code",
    "You are Codex",
)
CLIWRAP_FILES = ("model-call-tap.cjs", "blocking-stdio.cjs", "system-prompt.md", "codex-models")


def texts(cli: Cli, body: dict[str, Any]) -> list[str]:
    """Every text the model request carries, system parts and turns, in order (no empties)."""
    found: list[Any] = []
    if cli.name == "claude":
        system = body.get("system") or []
        found += [system] if isinstance(system, str) else [b.get("text") for b in system]
        found += [part for m in body["messages"] for part in _parts(m["content"])]
    elif cli.name == "gemini":
        found += [p.get("text") for p in (body.get("systemInstruction") or {}).get("parts", [])]
        found += [p.get("text") for c in body["contents"] for p in c["parts"]]
    elif cli.name == "qwen":
        found += [part for m in body["messages"] for part in _parts(m["content"])]
    else:
        found += [body.get("instructions")]
        found += [part for item in body["input"] for part in _parts(item.get("content") or [])]
    return [text for text in found if text]


def _parts(content: str | list[dict[str, Any]]) -> list[Any]:
    return [content] if isinstance(content, str) else [p.get("text") for p in content]


def check(
    cli: Cli, body: dict[str, Any], user: str, system: str | None, allowed: tuple[Remains, ...]
) -> None:
    sent = texts(cli, body)
    if system is not None:
        assert sent.count(system) == 1, f"{cli}: the client's system prompt, as sent: {sent}"
        sent.remove(system)
    said = [text for text in sent if text.rstrip() == user]
    assert said, f"{cli}: the user's text, unprefixed, is not among {sent}"
    sent.remove(said[0])
    extra = [text for text in sent if not any(r.matches(text) for r in allowed)]
    assert not extra, f"{cli} added what docs/fidelity.md does not list: {extra}"
    whole = json.dumps(body)
    for phrase in PERSONAS:
        assert phrase not in whole, f"{cli} sent an agent persona ({phrase!r})"
    for name in CLIWRAP_FILES:
        assert name not in whole, f"{cli} showed the model cliwrap's own {name}"


@each_cli
@pytest.mark.parametrize("system", [None, SYSTEM], ids=["no-system", "system"])
def test_the_model_gets_what_the_client_sent(
    cli: Cli, system: str | None, server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    user = f"What is the capital of France? {marker()}"
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    sdk(server).chat.completions.create(model=cli.model, messages=messages)  # type: ignore[arg-type]
    (request,) = model_requests(stub, cli, user)
    check(cli, request.body, user, system, REMAINS[cli.name])


def test_claude_on_a_login_keeps_only_its_environment_turn(
    start_server: ServerFactory, stub: StubThread, sdk: SdkFactory, tmp_path: Path
) -> None:
    env = provider_tables(stub.url, tmp_path)["providers.claude"]["env"]
    login = {**env, "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": "sk-ant-oat01-test"}
    server = start_server(providers__claude={"env": login})
    user = f"What is the capital of France? {marker()}"
    claude = CLIS[0]
    sdk(server).chat.completions.create(
        model=claude.model, messages=[{"role": "user", "content": user}]
    )
    (request,) = model_requests(stub, claude, user)
    check(claude, request.body, user, None, LOGIN_REMAINS)


def test_the_table_names_what_remains() -> None:
    table = DOC.read_text(encoding="utf-8")
    for remains in (*(r for rs in REMAINS.values() for r in rs), *LOGIN_REMAINS):
        assert remains.what in table, f"docs/fidelity.md does not name {remains.what!r}"
