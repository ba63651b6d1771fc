"""Codex CLI end to end, for what is Codex's own: the real pinned CLI, the stub Responses API.

The shared matrix (test_cli_matrix.py) covers what every CLI must do; these cover the ways
Codex differs: its models come from its own catalog, whose entries decide whether it offers
its file-editing tool, and it keeps state in the user's CODEX_HOME.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from cliwrap.testing import LiveServer, StubThread

from .conftest import SdkFactory, ServerFactory


def test_models_come_from_the_clis_catalog_and_route(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    listed = httpx.get(server.base_url + "/models", timeout=30).json()["data"]
    codex = {m["id"]: m for m in listed if m["provider"] == "codex"}
    # gpt-6.1-sol is in the pinned CLI's bundled catalog, not in cliwrap's config, and no
    # prefix routes it: it is offered, and it works, because the CLI listed it.
    assert codex["gpt-6.1-sol"]["cli_version"] == "0.169.0"
    assert "gpt-6.1-sol-progress" not in codex  # twins are listed only when configured
    assert isinstance(codex["gpt-6.1-sol"]["context_length"], int)  # from the CLI's catalog
    assert "codex-auto-review" not in codex, "the catalog's hidden models stay hidden"
    tag = uuid.uuid4().hex[:12]
    reply = sdk(server).chat.completions.create(
        model="gpt-6.1-sol",
        messages=[
            {"role": "system", "content": "Answer plainly."},
            {"role": "user", "content": f"hi {tag}"},
        ],
    )
    assert reply.choices[0].message.content == f"echo: hi {tag}"
    (request,) = [r for r in stub.find(tag) if r.path == "/v1/responses"]
    body = request.body
    assert body["model"] == "gpt-6.1-sol"
    # Its catalog entry carries apply_patch; the run's copy of the catalog does not.
    assert not body.get("tools"), json.dumps(body.get("tools"))[:300]
    assert body["reasoning"].get("summary") == "auto", "summaries asked for"
    sent = json.dumps(body["input"])
    assert "Answer plainly." in sent
    assert "You are Codex" not in sent, "the system prompt replaces Codex's own"


def test_nothing_of_the_run_stays_in_the_users_codex_home(
    server: LiveServer, sdk: SdkFactory
) -> None:
    sdk(server).chat.completions.create(
        model="gpt-5.5", messages=[{"role": "user", "content": "remember nothing"}]
    )
    codex_home = server.config_path.parent / "home" / ".codex"
    kept = sorted(p.name for p in codex_home.iterdir())
    assert "sessions" not in kept
    assert not [name for name in kept if name.endswith((".sqlite", ".sqlite-wal"))], kept


def test_a_users_own_model_provider_gets_its_key_variable(
    start_server: ServerFactory,
    stub: StubThread,
    sdk: SdkFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A provider in the user's ~/.codex/config.toml names the variable of its key in
    ``env_key``: it reaches Codex from the server's environment; without it, the client is
    told which variable to set, in a 4xx the SDKs do not retry."""
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    (home / ".codex" / "config.toml").write_text(
        'model_provider = "mine"\n[model_providers.mine]\nname = "Mine"\n'
        f'base_url = "{stub.url}/v1"\nenv_key = "MY_CODEX_STUB_KEY"\nwire_api = "responses"\n'
    )
    mine = {"args": [], "env": {"HOME": str(home)}}
    monkeypatch.setenv("MY_CODEX_STUB_KEY", "sk-mine-test-key")
    served = start_server(providers__codex=mine)
    monkeypatch.delenv("MY_CODEX_STUB_KEY")
    unset = start_server(providers__codex=mine)
    ask: Any = [{"role": "user", "content": "[[reply:mine]]"}]
    answer = sdk(served).chat.completions.create(model="gpt-5.5", messages=ask)
    assert answer.choices[0].message.content == "mine"
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(unset).chat.completions.create(model="gpt-5.5", messages=ask)
    assert caught.value.status_code == 424
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "cli_misconfigured"
    assert "MY_CODEX_STUB_KEY" in caught.value.message
