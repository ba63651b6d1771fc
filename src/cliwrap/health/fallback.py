"""``fallback_model``: which model to try next when one could not answer. Pure.

A provider's ``fallback_model`` names one model (``"haiku"``: the same CLI's; or
``"gemini/gemini-2.5-flash"``: another's) or a list, tried in order. Only the first
provider's chain is followed (a fallback's own ``fallback_model`` is not), so that what is
tried is what its configuration reads. A fallback is tried only on a failure another model
may not have (overloaded, out of quota, rate limited, model not found) and only while
nothing has reached the client (before a stream's first byte; any time for a JSON answer).
"""

from __future__ import annotations

from collections.abc import Mapping

from ..config import ProviderConfig
from ..core.errors import ApiError, ErrorKind

__all__ = ["FALLBACK_KINDS", "HEADER", "chain", "falls_back"]

HEADER = "X-Cliwrap-Fallback"
"""Response header naming the model first asked for, when a fallback answered."""
FALLBACK_KINDS = frozenset(
    {
        ErrorKind.OVERLOADED,
        ErrorKind.QUOTA_EXCEEDED,
        ErrorKind.RATE_LIMIT,
        ErrorKind.MODEL_NOT_FOUND,
    }
)


def chain(provider: str, providers: Mapping[str, ProviderConfig]) -> tuple[str, ...]:
    """The model names (as a client would write them) to try after ``provider``'s model."""
    settings = providers.get(provider)
    if settings is None:
        return ()
    return tuple(name if "/" in name else f"{provider}/{name}" for name in settings.fallback_model)


def falls_back(error: ApiError | None) -> bool:
    """Whether a run that ended with ``error`` is worth another model."""
    return error is not None and error.kind in FALLBACK_KINDS
