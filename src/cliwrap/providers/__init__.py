"""The CLIs cliwrap drives, one module each."""

from collections.abc import Mapping

from .base import Dialogue, Invocation, LineParser, Provider, build_env, find_command
from .claude import ClaudeProvider
from .codex import CodexProvider
from .gemini import GeminiProvider
from .qwen import QwenProvider

__all__ = [
    "PROVIDERS",
    "Dialogue",
    "Invocation",
    "LineParser",
    "Provider",
    "build_env",
    "find_command",
]

PROVIDERS: Mapping[str, Provider] = {
    p.name: p for p in (ClaudeProvider(), GeminiProvider(), QwenProvider(), CodexProvider())
}
"""Every known provider by name, in routing order."""
