"""Codex CLI (``codex app-server``, JSON-RPC on stdio): invocation and dialogue.

Facts this relies on: shared/cli-notes/codex.md. Not written yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import ProviderConfig
from ..request import ChatRequest
from .base import Invocation, LineParser, first_version

__all__ = ["CodexProvider"]


class CodexProvider:
    name = "codex"
    prefixes: tuple[str, ...] = ("codex-", "gpt-5")
    install_hint = "install Codex CLI: `just clis` (pinned) or `npm install -g @openai/codex`"
    defaults: Mapping[str, Any] = {
        "command": "codex",
        "models": [],
        "default_model": "gpt-5.1-codex",
        "home": "private",
    }
    version_args: tuple[str, ...] = ("--version",)
    models_args: tuple[str, ...] | None = ("debug", "models")

    def invocation(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
    ) -> Invocation:
        raise NotImplementedError

    def parser(self, request: ChatRequest, model: str) -> LineParser:
        raise NotImplementedError

    def parse_version(self, output: str) -> str:
        return first_version(output)

    def parse_models(self, output: str) -> list[str]:
        return []

    def auth_hint(self, env: Mapping[str, str], home: Path) -> str:
        return "unknown"
