"""A model's context window and output limit, as agents need them to plan and compact.

Clients size their history by what ``GET /v1/models`` says (Claude Code, Codex, aider and
OpenCode compact, or refuse, by it), so each model's two numbers come from the best source
there is, field by field:

1. the user's ``[providers.<name>.limits]`` (a model name, or a glob such as ``"gpt-5*"``);
2. the CLI's own catalog, where it has one the inventory reads (Codex: ``codex debug
   models`` gives each model's ``context_window``);
3. the provider's table of rules (:attr:`Provider.limit_rules`), the first glob that matches;
   its values are the pinned CLIs' own: Gemini CLI's ``tokenLimit``, Qwen Code's
   ``tokenLimits`` patterns, Claude Code's model catalog.

Pure: the inventory reads the catalog, the server composes the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

import attrs

from ..config import ModelLimits

__all__ = ["LimitRule", "TokenLimits", "limits_for"]

LimitRule = tuple[str, int, int]
"""A glob over the model name as the CLI takes it, its context window, its output limit."""


@attrs.frozen
class TokenLimits:
    """How many tokens a model takes in (its context window) and may write in one answer."""

    context_window: int | None = None
    max_output_tokens: int | None = None

    def or_else(self, other: TokenLimits) -> TokenLimits:
        """These limits, with what they leave unknown taken from ``other``."""
        return TokenLimits(
            self.context_window if self.context_window is not None else other.context_window,
            self.max_output_tokens
            if self.max_output_tokens is not None
            else other.max_output_tokens,
        )


def _configured(model: str, configured: Mapping[str, ModelLimits]) -> TokenLimits:
    """The user's limits for ``model``: its own entry, else the first glob that matches."""
    entry = configured.get(model)
    if entry is None:
        entry = next(
            (limits for pattern, limits in configured.items() if fnmatchcase(model, pattern)),
            None,
        )
    if entry is None:
        return TokenLimits()
    return TokenLimits(entry.context_window or None, entry.max_output_tokens or None)


def _ruled(model: str, rules: Iterable[LimitRule]) -> TokenLimits:
    for pattern, context, output in rules:
        if fnmatchcase(model, pattern):
            return TokenLimits(context, output)
    return TokenLimits()


def limits_for(
    model: str,
    *,
    configured: Mapping[str, ModelLimits],
    catalog: Mapping[str, TokenLimits],
    rules: Iterable[LimitRule],
) -> TokenLimits:
    """``model``'s limits (the name as the CLI takes it): configured, catalog, then rules."""
    found = _configured(model, configured)
    found = found.or_else(catalog.get(model, TokenLimits()))
    return found.or_else(_ruled(model, rules))
