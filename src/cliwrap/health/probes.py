"""The login probes: each enabled CLI asked, as cheaply as it can be, whether it is logged in.

A probe builds the very environment a run of the CLI gets (the provider's own invocation,
``plan_only`` applied), so that what it finds is what a request would meet; then it asks the
CLI's status command (Claude Code, Codex) or reads the credentials that environment gives
(Gemini CLI, Qwen Code): no model call, no tokens. The commands run like every short CLI
command of the inventory: own process group, ledger, deadline, private directory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import trio

from ..config import ProviderConfig
from ..core.request import ChatRequest, Message
from ..providers import PROVIDERS, find_command
from ..providers.base import WORK_DIR
from ..providers.codex import provider_env_keys
from ..runtime.inventory import capture, scratch_workdir
from ..runtime.job import prepare_workdir
from ..runtime.ledger import Ledger
from . import checks
from .login import LoginState
from .plans import plan_only_environment, plan_only_verdict

__all__ = ["PROBE_TIMEOUT", "probe_login"]

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 15.0


async def probe_login(
    name: str, settings: ProviderConfig, environ: Mapping[str, str], ledger: Ledger
) -> LoginState:
    """``name``'s login, as its CLI tells it (healthy None when it cannot tell)."""
    path = find_command(settings.command, environ)
    if path is None:
        return LoginState(healthy=False, detail="not installed")
    try:
        async with scratch_workdir(ledger, "login") as workdir:
            with trio.move_on_after(PROBE_TIMEOUT):
                state = await _ask(name, path, settings, environ, ledger, workdir)
                return plan_only_verdict(name, state, settings)
            return LoginState(detail=f"no answer within {PROBE_TIMEOUT:g} s")
    except OSError as error:
        return LoginState(detail=f"could not run the CLI: {error.strerror}")


async def _ask(
    name: str,
    path: Path,
    settings: ProviderConfig,
    environ: Mapping[str, str],
    ledger: Ledger,
    workdir: Path,
) -> LoginState:
    provider = PROVIDERS[name]
    environ, settings = plan_only_environment(name, environ, settings)
    chat = ChatRequest(model=settings.default_model, messages=(Message("user", "."),))
    invocation = provider.invocation(chat, settings.default_model, workdir, settings, environ)
    await trio.to_thread.run_sync(prepare_workdir, invocation, workdir)
    env = invocation.env
    cwd = workdir / WORK_DIR  # where a run starts: its preloads are found from there
    if name == "claude":
        status, output = await capture(
            [str(path), *checks.CLAUDE_STATUS_ARGS], env=env, cwd=cwd, ledger=ledger, stderr=True
        )
        return checks.claude_status(status, output)
    if name == "codex":
        keys = provider_env_keys(env, settings.args)
        if any(env.get(key) for key in keys):
            return checks.codex_status(0, "", env_keys=keys, env=env)
        status, output = await capture(
            [str(path), *checks.CODEX_STATUS_ARGS], env=env, cwd=cwd, ledger=ledger, stderr=True
        )
        return checks.codex_status(status, output, env_keys=keys, env=env)
    home = Path(env["HOME"]) if env.get("HOME") else None
    if name == "gemini":
        return checks.gemini_credentials(env, home)
    if name == "qwen":
        return checks.qwen_credentials(env)
    return LoginState(detail="no login probe for this CLI")
