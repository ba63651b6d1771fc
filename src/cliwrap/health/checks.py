"""What each CLI says about its credentials, read without a model call. Pure.

Measured on the pinned versions, with an empty private HOME and with credentials:

- Claude Code: ``claude auth status`` prints JSON (``loggedIn``, ``authMethod``:
  ``none`` | ``api_key`` | ``claude.ai`` …, ``apiKeySource``, ``subscriptionType``) and
  exits 1 when not logged in, in ~0.4 s. Given both a subscription login and
  ``ANTHROPIC_API_KEY`` it reports (and bills) ``api_key``.
- Codex: ``codex login status`` prints "Not logged in" (exit 1), "API key configured - sk-…"
  or "Logged in using ChatGPT" (exit 0), in ~0.2 s. A model provider of the user's own with
  an ``env_key`` is not a login it knows of: there the variable is what counts.
- Gemini CLI and Qwen Code have no such command; their credentials are variables (and, for
  Gemini CLI with your HOME, an OAuth file), so the check reads the run's environment.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..core.errors import sanitize
from .login import LoginState

__all__ = [
    "CLAUDE_STATUS_ARGS",
    "CODEX_STATUS_ARGS",
    "claude_status",
    "codex_status",
    "gemini_credentials",
    "qwen_credentials",
]

CLAUDE_STATUS_ARGS = ("auth", "status")
CODEX_STATUS_ARGS = ("login", "status")


def claude_status(returncode: int, output: str) -> LoginState:
    """``claude auth status``'s verdict."""
    try:
        status = json.loads(output[output.find("{") :]) if "{" in output else None
    except ValueError:
        status = None
    if not isinstance(status, dict) or "loggedIn" not in status:
        return LoginState(detail=f"`claude auth status` said nothing readable (exit {returncode})")
    method = str(status.get("authMethod") or "none")
    provider = str(status.get("apiProvider") or "firstParty")
    if provider != "firstParty" and not status["loggedIn"]:
        # Bedrock, Vertex, Foundry: their credentials are checked by the cloud, not here.
        return LoginState(method=provider, detail=f"API provider {provider}: not checked here")
    parts = [f"authMethod {method}"]
    for field in ("apiKeySource", "subscriptionType"):
        if status.get(field):
            parts.append(f"{field} {status[field]}")
    return LoginState(
        method=None if method == "none" else method,
        healthy=bool(status["loggedIn"]),
        detail="`claude auth status`: " + ", ".join(parts),
    )


def codex_status(
    returncode: int,
    output: str,
    *,
    env_keys: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> LoginState:
    """``codex login status``'s verdict; ``env_keys``: the variables the user's own model
    providers take their keys from (one of them set is a usable login of its own)."""
    keys = sorted(env_keys)
    found = [name for name in keys if (env or {}).get(name)]
    if found:
        return LoginState(
            method=f"env:{found[0]}",
            healthy=True,
            detail=f"the model provider's env_key {found[0]} is set",
        )
    text = " ".join(line for line in output.splitlines() if not line.startswith("WARNING"))
    if "Not logged in" in text:
        variable = _variables(env or {}, ("CODEX_API_KEY", "OPENAI_API_KEY"))
        if variable is not None:  # it may take the key from there: only a run can tell
            return LoginState(
                method=f"env:{variable}",
                detail=f"`codex login status`: Not logged in, but ${variable} is set",
            )
        if keys:  # a provider of the user's own, its key unset: a run's 424 names it
            return LoginState(
                method=f"env:{keys[0]}",
                detail=f"the model providers' env_key {', '.join(keys)}: not set",
            )
        return LoginState(healthy=False, detail="`codex login status`: Not logged in")
    if returncode == 0 and "API key configured" in text:
        return LoginState(method="api_key", healthy=True, detail="`codex login status`: API key")
    if returncode == 0 and "Logged in using" in text:
        method = text.split("Logged in using", 1)[1].strip().split(".")[0].strip()
        return LoginState(
            method=method.lower().replace(" ", "_") or "login",
            healthy=True,
            detail=f"`codex login status`: Logged in using {method}",
        )
    return LoginState(detail=f"`codex login status` (exit {returncode}): {sanitize(text, 200)}")


def _variables(env: Mapping[str, str], names: Iterable[str]) -> str | None:
    return next((name for name in names if env.get(name)), None)


def gemini_credentials(env: Mapping[str, str], home: Path | None) -> LoginState:
    """Gemini CLI's credentials in the run's environment (and, with your HOME, its files)."""
    name = _variables(env, ("GEMINI_API_KEY", "GOOGLE_API_KEY"))
    if name is not None:
        return LoginState(method=f"env:{name}", healthy=True, detail=f"${name} is set")
    if env.get("GOOGLE_GENAI_USE_VERTEXAI") == "true" and env.get("GOOGLE_CLOUD_PROJECT"):
        return LoginState(method="vertex-ai", detail="Vertex AI: checked by Google, not here")
    if home is not None and (home / ".gemini" / "oauth_creds.json").exists():
        return LoginState(
            method="oauth-personal",
            healthy=True,
            detail="~/.gemini/oauth_creds.json (Google ended these logins for individual "
            "accounts on 2026-06-18; Code Assist Standard/Enterprise still work)",
        )
    return LoginState(healthy=False, detail="no GEMINI_API_KEY, GOOGLE_API_KEY nor OAuth login")


def qwen_credentials(env: Mapping[str, str]) -> LoginState:
    """Qwen Code's credentials: cliwrap runs it bare, so the environment is the only source
    (and Qwen's own OAuth tier ended on 2026-04-15)."""
    name = _variables(env, ("OPENAI_API_KEY",))
    if name is not None:
        return LoginState(method=f"env:{name}", healthy=True, detail=f"${name} is set")
    return LoginState(healthy=False, detail="OPENAI_API_KEY is not set")
