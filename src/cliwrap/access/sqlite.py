"""The SQLite store as a :class:`~cliwrap.access.keys.KeyStore` and a
:class:`~cliwrap.access.usage.UsageStore`: the queries live with the store's others
(:mod:`cliwrap.storage.sqlite`); these only give them the protocols' names."""

from __future__ import annotations

import builtins

import attrs

from ..core.events import Usage
from ..storage import Store
from .keys import ApiKey
from .usage import UsageRow, counters

__all__ = ["SqliteKeys", "SqliteUsage"]


@attrs.frozen
class SqliteKeys:
    """:class:`~cliwrap.access.keys.KeyStore` on the store's ``api_keys`` table."""

    store: Store

    async def create(self, key: ApiKey) -> None:
        await self.store.create_key(key)

    async def list(self, *, include_revoked: bool = False) -> builtins.list[ApiKey]:
        return await self.store.list_keys(include_revoked=include_revoked)

    async def revoke(self, name: str, at: float) -> ApiKey | None:
        return await self.store.revoke_key(name, at)

    async def lookup(self, key_id: str) -> ApiKey | None:
        return await self.store.lookup_key(key_id)


@attrs.frozen
class SqliteUsage:
    """:class:`~cliwrap.access.usage.UsageStore` on the store's ``usage`` table."""

    store: Store

    async def add(
        self, key_name: str, model: str, day: str, usage: Usage | None, requests: int = 1
    ) -> None:
        await self.store.add_usage(key_name, model, day, counters(usage), requests)

    async def rows(self, key_name: str | None, since: str, until: str) -> list[UsageRow]:
        return await self.store.usage_rows(key_name, since, until)

    async def spent(self, key_name: str, since_day: str) -> tuple[int, float]:
        return await self.store.spent(key_name, since_day)
