"""Gemini CLI end to end, for what is Gemini's own: the real pinned CLI, the stub Gemini API.

The shared matrix (test_cli_matrix.py) covers what every CLI must do; these cover the ways
Gemini CLI differs: it echoes the whole prompt before answering, it merges the user's own
settings into ours, and it runs prompts starting with "/" as commands.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import openai
import pytest

from cliwrap.testing import LiveServer, StubThread

from .conftest import SdkFactory, ServerFactory

MODEL = "gemini-2.5-flash"


def marker() -> str:
    return uuid.uuid4().hex[:12]


def ask(client: openai.OpenAI, content: str) -> str | None:
    reply = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}]
    )
    return reply.choices[0].message.content


def sent_to_model(stub: StubThread, tag: str) -> list[str]:
    """The user text of each model call that mentions ``tag``."""
    return [
        part["text"]
        for request in stub.find(tag)
        if request.path.startswith("/v1beta/models/")
        for content in request.body["contents"]
        for part in content["parts"]
        if tag in part.get("text", "")
    ]


def test_a_large_prompt_is_sent_whole_and_its_answer_is_not_lost(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    # The CLI echoes the prompt on stdout before the answer and exits right after its last
    # line; without blocking writes, the answer of a quick backend stayed in Node's buffer.
    tag = marker()
    prompt = "".join(f"line {n}: ünïcødé {tag}\t \n" for n in range(40_000)) + "[[reply:fine]]"
    client = sdk(server)
    assert ask(client, prompt) == "fine"
    assert sent_to_model(stub, tag) == [prompt]
    with pytest.raises(openai.RateLimitError) as caught:
        ask(client, prompt + " [[fail:429 retry-after=3]]")
    assert caught.value.response.headers["retry-after"] == "3"


def test_a_prompt_starting_with_a_slash_is_a_question(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    tag = marker()
    # A conversation's turn goes to Gemini CLI's ACP session, which trims a leading space
    # before it looks for a command: an invisible U+200B keeps the text a question there.
    echoed = ask(sdk(server), f"/memory add {tag}")
    assert (echoed or "").replace("\u200b", "") == f"echo: /memory add {tag}"
    assert sent_to_model(stub, tag) == ["\u200b/memory add " + tag]


def test_the_users_own_settings_cannot_bring_tools_hooks_or_retries_back(
    start_server: ServerFactory, stub: StubThread, sdk: SdkFactory, tmp_path: Path
) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    home = tmp_path / "home"
    (home / ".gemini").mkdir(parents=True)
    (home / ".gemini" / "settings.json").write_text(
        json.dumps(
            {
                "security": {"auth": {"selectedType": "oauth-personal"}},
                "general": {"maxAttempts": 5, "retryFetchErrors": True},
                "tools": {
                    "core": ["read_file", "run_shell_command", "google_web_search"],
                    "discoveryCommand": f"touch {evidence / 'discovery'}",
                },
                "mcpServers": {"spy": {"command": "touch", "args": [str(evidence / "mcp")]}},
                "hooks": {
                    "BeforeModel": [
                        {"hooks": [{"type": "command", "command": f"touch {evidence / 'hook'}"}]}
                    ]
                },
            }
        )
    )
    users = start_server(
        providers__gemini={
            "home": "user",
            "env": {
                "HOME": str(home),
                "GOOGLE_GEMINI_BASE_URL": stub.url,
                "GEMINI_API_KEY": "gemini-test-key",
            },
        }
    )
    tag = marker()
    client = sdk(users)
    assert ask(client, f"hello {tag}") == f"echo: hello {tag}"
    (request,) = stub.find(tag)
    assert request.body["tools"] == [{"functionDeclarations": []}]
    with pytest.raises(openai.InternalServerError):
        ask(client, f"again {tag} [[fail:500]]")
    assert len(stub.find(tag)) == 2, "one model call for the failure: no retries"
    assert list(evidence.iterdir()) == [], "no hook, MCP server or discovery command ran"
