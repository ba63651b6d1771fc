"""API keys as values: the token, what is stored of it, its limits, and the store's protocol.

A key's token (``cwk_`` and 43 random characters) is shown once, when it is made; the store
keeps only its hash, :func:`cliwrap.conversations.key_id`, the same hash conversations
already belong to, so a key's conversations and its usage meet under one id. Its first
characters (``prefix``) are kept too, so a person can tell keys apart in a listing.

Sans-IO: nothing here reads a clock or a file; times are given by the caller.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Mapping
from typing import Protocol

import attrs
from attrs import validators as v

from ..conversations import key_id
from .groups import GROUPS  # the endpoint groups a key's ``rpm`` may name

__all__ = [
    "BUDGET_PERIODS",
    "PREFIX_LENGTH",
    "TOKEN_PREFIX",
    "ApiKey",
    "KeyExistsError",
    "KeyLimits",
    "KeyStore",
    "config_keys",
    "new_key",
    "new_token",
    "sees_everyone",
]

TOKEN_PREFIX = "cwk_"  # noqa: S105 (a marker every token starts with, no secret)
PREFIX_LENGTH = 12
"""Characters of the token kept for display (``cwk_`` and 8 of the random part)."""
BUDGET_PERIODS = ("day", "month")


def new_token() -> str:
    """A fresh, unguessable key: ``cwk_`` and 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _rpm(value: Mapping[str, int]) -> Mapping[str, int]:
    for group, count in value.items():
        if group not in GROUPS:
            raise ValueError(f"unknown endpoint group {group!r}; one of {', '.join(GROUPS)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"requests per minute for {group!r} must be a whole number >= 1")
    return dict(sorted(value.items()))


@attrs.frozen
class KeyLimits:
    """What one key may use; zero (or a group left out of ``rpm``) means no limit of its own."""

    rpm: Mapping[str, int] = attrs.field(factory=dict, converter=_rpm)
    """Requests per minute per endpoint group (``chat``, ``sessions`` …); a group left out
    gets the server's default per key."""
    concurrent: int = attrs.field(default=0, validator=v.ge(0))
    """Runs of this key at once (0: no limit but the server's)."""
    budget_tokens: int = attrs.field(default=0, validator=v.ge(0))
    """Tokens per period: input (cache writes included) plus output; cache reads are not
    counted (a coding agent rereads its whole context from the cache on every turn)."""
    budget_usd: float = attrs.field(default=0.0, validator=v.ge(0))
    """Dollars per period, as the CLIs report cost (Claude Code does; the others report
    none, so their runs count only towards a token budget)."""
    budget_period: str = attrs.field(default="day", validator=v.in_(BUDGET_PERIODS))
    """``day`` or ``month``, in UTC: a budget starts afresh at midnight UTC (or on the 1st)."""

    @property
    def has_budget(self) -> bool:
        return self.budget_tokens > 0 or self.budget_usd > 0

    def as_dict(self) -> dict[str, object]:
        """JSON-able, for the store and ``cliwrap keys list --json``."""
        return {
            "rpm": dict(self.rpm),
            "concurrent": self.concurrent,
            "budget_tokens": self.budget_tokens,
            "budget_usd": self.budget_usd,
            "budget_period": self.budget_period,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> KeyLimits:
        """The inverse of :meth:`as_dict` (keys it does not know are an error)."""
        return cls(**data)  # type: ignore[arg-type]


@attrs.frozen
class ApiKey:
    """One key as stored: never its token, only the token's hash and first characters."""

    id: str
    """:func:`cliwrap.conversations.key_id` of the token."""
    name: str
    """Unique among the active keys; usage is recorded under it."""
    prefix: str
    """The token's first :data:`PREFIX_LENGTH` characters, for display."""
    created: float
    """Wall-clock seconds (``time.time()``)."""
    revoked: float | None = None
    """When it was revoked; ``None`` while it is active."""
    admin: bool = False
    """Sees (and may cancel) every key's runs and usage."""
    limits: KeyLimits = KeyLimits()

    @property
    def active(self) -> bool:
        return self.revoked is None

    def as_dict(self) -> dict[str, object]:
        """JSON-able, without the id (the hash tells a reader nothing useful)."""
        return {
            "name": self.name,
            "prefix": self.prefix,
            "created": self.created,
            "revoked": self.revoked,
            "admin": self.admin,
            "limits": self.limits.as_dict(),
        }


def new_key(
    name: str, created: float, *, admin: bool = False, limits: KeyLimits | None = None
) -> tuple[str, ApiKey]:
    """A fresh token and the key to store for it."""
    if not name or len(name) > 64 or not name.isprintable() or name != name.strip():
        raise ValueError("a key's name is 1 to 64 printable characters, not blank at the ends")
    token = new_token()
    key = ApiKey(
        id=key_id(token),
        name=name,
        prefix=token[:PREFIX_LENGTH],
        created=created,
        admin=admin,
        limits=limits or KeyLimits(),
    )
    return token, key


def config_keys(tokens: tuple[str, ...]) -> dict[str, ApiKey]:
    """The config's ``server.api_keys`` as keys, by id: admin keys named ``config-1``,
    ``config-2`` … with no limits (they were the whole story before keys were stored)."""
    return {
        key_id(token): ApiKey(
            id=key_id(token),
            name=f"config-{i}",
            prefix="",
            created=0.0,
            admin=True,
        )
        for i, token in enumerate(tokens, 1)
    }


def sees_everyone(key: ApiKey | None) -> bool:
    """Whether a request with ``key`` sees (and may cancel) every key's runs and usage: an
    admin key does, and so does every request on a server with no keys at all (``None``)."""
    return key is None or key.admin


class KeyExistsError(ValueError):
    """An active key already has that name."""


class KeyStore(Protocol):
    """Where keys are kept (SQLite by default; Redis when several servers share them)."""

    async def create(self, key: ApiKey) -> None:
        """Store ``key``; :class:`KeyExistsError` if an active key has its name."""
        ...

    async def list(self, *, include_revoked: bool = False) -> builtins.list[ApiKey]:
        """The keys, oldest first; the revoked ones too if asked."""
        ...

    async def revoke(self, name: str, at: float) -> ApiKey | None:
        """Revoke the active key ``name`` at time ``at``; the key as it now is, or ``None``
        if there is no active key of that name."""
        ...

    async def lookup(self, key_id: str) -> ApiKey | None:
        """The key whose token hashes to ``key_id`` (revoked or not), or ``None``."""
        ...
