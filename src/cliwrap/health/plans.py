"""``plan_only``: use a CLI's subscription (plan) login, never paid API usage. Pure.

What each pinned CLI allows (read in the bundles and measured with ``claude auth status``):

- Claude Code bills an API key whenever one is set, even with a subscription login
  (``authMethod: api_key``): with ``plan_only`` its API-key variables are withheld, so only
  the claude.ai login (or ``CLAUDE_CODE_OAUTH_TOKEN``) is used, and a CLI left with an
  API-key login only is reported logged out (401) rather than billed.
- Codex: an API-key login (``codex login --with-api-key``, ``OPENAI_API_KEY``,
  ``CODEX_API_KEY``) is paid usage: withheld, and an API-key login refused. Once a ChatGPT
  plan's limit is reached, Codex offers only credits bought beforehand; it has no switch to
  refuse them, so a workspace with credits spends them.
- Gemini CLI: ``GEMINI_API_KEY``/``GOOGLE_API_KEY`` are withheld (only a Code Assist login).
- Qwen Code: a Coding Plan key and a pay-as-you-go key look the same: nothing to withhold.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from ..config import ProviderConfig
from .login import LoginState

__all__ = ["PAID_METHODS", "PAID_VARIABLES", "plan_only_environment", "plan_only_verdict"]

PAID_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "claude": ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"),
    "codex": ("OPENAI_API_KEY", "CODEX_API_KEY"),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}
"""The variables that make each CLI bill paid API usage."""
PAID_METHODS = frozenset(
    {"api_key", "env:OPENAI_API_KEY", "env:GEMINI_API_KEY", "env:GOOGLE_API_KEY"}
)
"""Login methods (as the probes name them) that are paid usage."""


def plan_only_environment(
    name: str, environ: Mapping[str, str], settings: ProviderConfig
) -> tuple[dict[str, str], ProviderConfig]:
    """The server's environment and the provider's settings without ``name``'s paid
    credentials, when ``settings.plan_only``; else unchanged."""
    if not settings.plan_only:
        return dict(environ), settings
    paid = PAID_VARIABLES.get(name, ())
    kept = {key: value for key, value in environ.items() if key not in paid}
    env = {key: value for key, value in settings.env.items() if key not in paid}
    return kept, attrs.evolve(settings, env=env)


def plan_only_verdict(name: str, state: LoginState, settings: ProviderConfig) -> LoginState:
    """A probe's verdict under ``plan_only``: a paid login is as good as none."""
    if settings.plan_only and state.healthy and state.method in PAID_METHODS:
        return attrs.evolve(
            state,
            healthy=False,
            detail=f"{state.detail}; plan_only refuses a paid login ({state.method})",
        )
    return state
