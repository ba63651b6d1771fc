"""Each pinned CLI's login probe with an empty HOME and no credentials: logged out, said
without a model call (Claude Code's ``auth status``, Codex's ``login status``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliwrap.config import load_config
from cliwrap.health.probes import probe_login
from cliwrap.providers import PROVIDERS
from cliwrap.runtime.ledger import Ledger


@pytest.mark.parametrize("name", list(PROVIDERS))
async def test_a_cli_without_credentials_is_logged_out(name: str, tmp_path: Path) -> None:
    config = load_config(None, {}, {n: p.defaults for n, p in PROVIDERS.items()})
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    state = await probe_login(name, config.providers[name], environ, Ledger(tmp_path / "ledger"))
    assert state.healthy is False, state
    assert str(tmp_path) not in state.detail
