"""Gemini CLI (``gemini``, API-key mode): invocation and stream-json parsing.

Facts this relies on: shared/cli-notes/gemini.md. Not written yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import ProviderConfig
from ..request import ChatRequest
from .base import Invocation, LineParser, first_version

__all__ = ["GeminiProvider"]


class GeminiProvider:
    name = "gemini"
    prefixes: tuple[str, ...] = ("gemini-",)
    install_hint = "install Gemini CLI: `just clis` (pinned) or `npm install -g @google/gemini-cli`"
    defaults: Mapping[str, Any] = {
        "command": "gemini",
        "models": ["gemini-2.5-pro", "gemini-2.5-flash"],
        "default_model": "gemini-2.5-flash",
        "home": "private",
    }
    version_args: tuple[str, ...] = ("--version",)
    models_args: tuple[str, ...] | None = None

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
