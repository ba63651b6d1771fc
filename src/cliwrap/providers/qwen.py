"""Qwen Code (``qwen``, OpenAI-compatible key): invocation and stream-json parsing.

Facts this relies on: shared/cli-notes/qwen.md. Not written yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import ProviderConfig
from ..request import ChatRequest
from .base import Invocation, LineParser, first_version

__all__ = ["QwenProvider"]


class QwenProvider:
    name = "qwen"
    prefixes: tuple[str, ...] = ("qwen-", "qwen3-")
    install_hint = (
        "install Qwen Code: `just clis` (pinned) or `npm install -g @qwen-code/qwen-code`"
    )
    defaults: Mapping[str, Any] = {
        "command": "qwen",
        "models": ["qwen-auto", "qwen3-coder-plus"],
        "default_model": "qwen-auto",
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
