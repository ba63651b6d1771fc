"""Codex CLI end to end, for what is Codex's own: the real pinned CLI, the stub Responses API.

The shared matrix (test_cli_matrix.py) covers what every CLI must do; these cover the ways
Codex differs: its models come from its own catalog, whose entries decide whether it offers
its file-editing tool, and it keeps state in the user's CODEX_HOME.
"""

from __future__ import annotations

import json
import uuid

import httpx

from cliwrap.testing import LiveServer, StubThread

from .conftest import SdkFactory


def test_models_come_from_the_clis_catalog_and_route(
    server: LiveServer, stub: StubThread, sdk: SdkFactory
) -> None:
    listed = httpx.get(server.base_url + "/models", timeout=30).json()["data"]
    codex = {m["id"]: m for m in listed if m["provider"] == "codex"}
    # gpt-6.1-sol is in the pinned CLI's bundled catalog, not in cliwrap's config, and no
    # prefix routes it: it is offered, and it works, because the CLI listed it.
    assert codex["gpt-6.1-sol"]["cli_version"] == "0.169.0"
    assert "gpt-6.1-sol-progress" in codex
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
