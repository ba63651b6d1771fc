"""Which key a request presented: the config's keys and the stored ones, cached.

Every request asks, so the answer comes from memory: the active stored keys are listed again
at most every :data:`REFRESH` seconds (a key revoked by ``cliwrap keys revoke``, in another
process, is refused from the next listing on), and a token that is not among them is looked
up at once (a key made a moment ago works on its first request: nobody can have presented
its token before it existed, so a miss is never stale in the other direction).

Keys are compared by their hash (:func:`cliwrap.conversations.key_id`), never by their text:
a dictionary lookup on a SHA-256 tells an attacker nothing about a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from ..conversations import key_id
from ..core.errors import ApiError, ErrorKind
from .keys import ApiKey, KeyStore, config_keys

__all__ = ["REFRESH", "Keyring"]

log = logging.getLogger(__name__)

REFRESH = 1.0
"""Seconds the list of stored keys is trusted; a revoked key is refused within this (plus
one query's time) in every server sharing the store."""
_MISSES = 10_000
"""Unknown tokens remembered until the next listing (beyond that, forgotten at once)."""

MISSING = "Missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key'."
INCORRECT = "Incorrect API key provided."


class Keyring:
    """The config's keys (``server.api_keys``) and the store's, as one set."""

    def __init__(
        self,
        tokens: tuple[str, ...] = (),
        store: KeyStore | None = None,
        *,
        clock: Callable[[], float] = trio.current_time,
        refresh: float = REFRESH,
    ) -> None:
        self._configured = config_keys(tokens)
        self.store = store
        """Where the stored keys are; ``None``: only the config's count."""
        self._clock = clock
        self._refresh = refresh
        self._stored: dict[str, ApiKey] = {}
        self._misses: set[str] = set()
        self._listed_at: float | None = None
        self._lock = trio.Lock()

    async def identify(self, presented: str | None) -> ApiKey | None:
        """The key ``presented`` is; ``None`` on a server without keys (where any token, or
        none, is let in). Raises a 401 :class:`ApiError` when the server has keys and
        ``presented`` is none of its active ones."""
        await self._list_if_stale()
        if presented:
            id_ = key_id(presented)
            key = self._configured.get(id_) or self._stored.get(id_) or await self._lookup(id_)
            if key is not None:
                return key
        if not self._configured and not self._stored:
            return None
        raise ApiError(ErrorKind.AUTHENTICATION, INCORRECT if presented else MISSING)

    async def error(self, presented: str | None) -> ApiError | None:
        """Why a client presenting ``presented`` may not in (``None``: it may)."""
        try:
            await self.identify(presented)
        except ApiError as error:
            return error
        return None

    async def any(self) -> bool:
        """Whether the server has keys (configured or stored): else it is open."""
        await self._list_if_stale()
        return bool(self._configured or self._stored)

    def known(self, presented: str | None) -> ApiKey | None:
        """The key ``presented`` is, from memory alone: for whoever asks after
        :meth:`identify` let the request in (the runs registry), without another query."""
        if not presented:
            return None
        id_ = key_id(presented)
        return self._configured.get(id_) or self._stored.get(id_)

    @property
    def has_keys(self) -> bool:
        """Whether the server had keys at the last listing (else it is open)."""
        return bool(self._configured or self._stored)

    async def _list_if_stale(self) -> None:
        store = self.store
        if store is None:
            await trio.lowlevel.checkpoint()
            return
        async with self._lock:
            now = self._clock()
            if self._listed_at is not None and now - self._listed_at < self._refresh:
                return
            try:
                listed = await store.list()
            except Exception as error:  # keep the last listing rather than refuse everyone
                log.error("cannot list the stored API keys: %s", error)
            else:
                self._stored = {key.id: key for key in listed if key.active}
                self._misses.clear()
            self._listed_at = now

    async def _lookup(self, id_: str) -> ApiKey | None:
        """A key made since the last listing, or ``None``."""
        store = self.store
        if store is None or id_ in self._misses:
            return None
        try:
            key = await store.lookup(id_)
        except Exception as error:
            log.error("cannot look up an API key: %s", error)
            return None
        if key is None or not key.active:
            if len(self._misses) < _MISSES:
                self._misses.add(id_)
            return None
        self._stored[id_] = key
        return key
