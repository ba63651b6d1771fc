"""The per-request budget cap: ``[budgets]`` and the request's own, lower, cap. Pure.

A request may lower the server's cap with ``X-Max-Budget-Usd`` / ``X-Max-Budget-Tokens``
(headers, so that every surface and SDK can send them unchanged), never raise it.

How each cap is enforced: dollars by Claude Code itself (``--max-budget-usd``: it stops
between model calls once the run's cost passes the cap); the other CLIs report their cost,
if at all, only when the run is over, and one model call cannot be stopped half-way at a
price, so there a dollar cap cannot be enforced before the end (documented, not faked).
Tokens: the answer's output limit (``max_tokens``) is lowered to the cap, which every CLI
honours or cliwrap enforces (the input is known before the run and is not capped here).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

from ..config import BudgetsConfig
from ..core.errors import ApiError, ErrorKind
from ..core.request import ChatRequest

__all__ = ["TOKENS_HEADER", "USD_HEADER", "capped"]

USD_HEADER = "X-Max-Budget-Usd"
TOKENS_HEADER = "X-Max-Budget-Tokens"


def _header(headers: Mapping[str, str], name: str, whole: bool) -> float | None:
    text = headers.get(name.lower())
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0 or (whole and not value.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise ApiError(ErrorKind.INVALID_REQUEST, f"{name} must be {kind} above 0.", param=name)
    return value


def _lowest(*values: float | None) -> float | None:
    given = [value for value in values if value]
    return min(given) if given else None


def capped(chat: ChatRequest, budgets: BudgetsConfig, headers: Mapping[str, str]) -> ChatRequest:
    """``chat`` with its budget: the lower of the server's and the request's caps
    (``headers``: names in lower case)."""
    usd = _lowest(budgets.max_request_usd, _header(headers, USD_HEADER, whole=False))
    tokens = _lowest(
        budgets.max_request_tokens, _header(headers, TOKENS_HEADER, whole=True), chat.max_tokens
    )
    if usd is None and tokens == chat.max_tokens:
        return chat
    return attrs.evolve(
        chat,
        max_budget_usd=usd,
        max_tokens=int(tokens) if tokens is not None else None,
    )
