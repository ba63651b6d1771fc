"""The conversation store on SQLite: stdlib ``sqlite3``, every call in a worker thread.

``sqlite3`` blocks (on the disk, on fsync, on a lock another server sharing the file holds),
and nothing may block trio's event loop, so each call runs in a worker thread. The store has
one connection, used by one thread at a time: a ``CapacityLimiter(1)`` admits the calls one by
one, and ``check_same_thread=False`` lets the connection move between trio's worker threads
(never be shared at once). A worker call that trio cancels still finishes its transaction
before ``Cancelled`` is raised, so the connection is never left mid-transaction; a cancelled
write may therefore have happened.

The file is in WAL mode (readers in another server sharing it go on while one writes) with a
busy timeout (a writer waits for another server's write instead of failing at once), and with
``synchronous=NORMAL``: a power cut may lose the last few writes, never the file. Writes that
read before they write run in ``BEGIN IMMEDIATE`` transactions, so two servers never number
the same transcript entry twice.

The schema's version is the file's ``PRAGMA user_version``; :data:`MIGRATIONS` holds the steps
from each version to the next, and opening a file applies the missing ones in one transaction.
A file from a newer cliwrap, a file that is no database, or one that cannot be read is a
:class:`StorageError` naming the file, never a raw ``sqlite3`` traceback.

Every query that reads or deletes a conversation or a response filters by its ``key_id``:
a key never sees another key's rows. The transcript is reached only by a conversation's id,
which the caller has from :meth:`Store.get` (or made itself); the store's foreign keys make
sure every transcript entry and response belongs to a conversation, and go with it.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from ..access.keys import ApiKey, KeyExistsError, KeyLimits
from ..access.usage import UsageRow
from .records import ConversationRecord, StorageError, StoredResponse, UnknownConversationError

__all__ = ["BUSY_TIMEOUT", "MIGRATIONS", "SCHEMA_VERSION", "Store"]

T = TypeVar("T")

BUSY_TIMEOUT = 5.0
"""Seconds a write waits for another connection's write lock (sqlite's ``busy_timeout``)."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 0 -> 1: conversations, their transcripts, stored responses.
    (
        """CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            key_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            shape TEXT NOT NULL,
            head TEXT NOT NULL,
            cli_session_id TEXT,
            directory TEXT,
            turns INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            name TEXT,
            UNIQUE (id, key_id)
        )""",
        "CREATE INDEX conversations_by_head"
        " ON conversations (key_id, provider, model, head, updated_at)",
        "CREATE INDEX conversations_by_use ON conversations (key_id, updated_at)",
        "CREATE INDEX conversations_by_age ON conversations (updated_at)",
        """CREATE TABLE transcript (
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (conversation_id, seq)
        ) WITHOUT ROWID""",
        """CREATE TABLE responses (
            id TEXT PRIMARY KEY,
            key_id TEXT NOT NULL,
            conversation_id TEXT NOT NULL,
            head TEXT NOT NULL,
            created_at REAL NOT NULL,
            body TEXT NOT NULL,
            FOREIGN KEY (conversation_id, key_id)
                REFERENCES conversations (id, key_id) ON DELETE CASCADE
        )""",
        "CREATE INDEX responses_by_conversation ON responses (conversation_id, key_id)",
        "CREATE INDEX responses_by_age ON responses (created_at)",
    ),
    # 1 -> 2: API keys (hashed) and usage per key, model and UTC day.
    (
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            prefix TEXT NOT NULL,
            created REAL NOT NULL,
            revoked REAL,
            admin INTEGER NOT NULL,
            limits TEXT NOT NULL
        )""",
        "CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked IS NULL",
        """CREATE TABLE usage (
            key_name TEXT NOT NULL,
            model TEXT NOT NULL,
            day TEXT NOT NULL,
            requests INTEGER NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cached_tokens INTEGER NOT NULL,
            cost_usd REAL NOT NULL,
            PRIMARY KEY (key_name, day, model)
        ) WITHOUT ROWID""",
        "CREATE INDEX usage_by_day ON usage (day)",
    ),
)
"""The statements that take the schema from version ``i`` to ``i + 1``, at index ``i``.
Append a step to change the schema; never edit one that has shipped."""

SCHEMA_VERSION = len(MIGRATIONS)

_CONVERSATION = tuple(field.name for field in attrs.fields(ConversationRecord))
_RESPONSE = tuple(field.name for field in attrs.fields(StoredResponse))


def _upsert(table: str, columns: tuple[str, ...]) -> str:
    """Insert a row, or replace the one with its id, unless that one is another key's."""
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name != "id")
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT (id) DO UPDATE SET {updates} WHERE {table}.key_id = excluded.key_id"
    )


_CONVERSATION_COLUMNS = ", ".join(_CONVERSATION)
_PUT = _upsert("conversations", _CONVERSATION)
_GET = f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE key_id = ? AND id = ?"
_FIND = (
    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations"
    " WHERE key_id = ? AND provider = ? AND model = ? AND head = ?"
    " ORDER BY updated_at DESC, rowid DESC LIMIT 1"
)
_LIST = (
    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE key_id = ?"
    " ORDER BY updated_at DESC, rowid DESC LIMIT ?"
)
_LIST_BEFORE = (
    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE key_id = ? AND updated_at < ?"
    " ORDER BY updated_at DESC, rowid DESC LIMIT ?"
)
_EXPIRED = (
    f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE updated_at < ?"
    " ORDER BY updated_at, rowid"
)
_KEY_COLUMNS = "id, name, prefix, created, revoked, admin, limits"
_ADD_USAGE = (
    "INSERT INTO usage (key_name, model, day, requests, input_tokens, output_tokens,"
    " cached_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key_name, day, model) DO UPDATE SET"
    " requests = requests + excluded.requests,"
    " input_tokens = input_tokens + excluded.input_tokens,"
    " output_tokens = output_tokens + excluded.output_tokens,"
    " cached_tokens = cached_tokens + excluded.cached_tokens,"
    " cost_usd = cost_usd + excluded.cost_usd"
)
_USAGE_COLUMNS = (
    "key_name, model, day, requests, input_tokens, output_tokens, cached_tokens, cost_usd"
)
_PUT_RESPONSE = _upsert("responses", _RESPONSE)
_GET_RESPONSE = f"SELECT {', '.join(_RESPONSE)} FROM responses WHERE key_id = ? AND id = ?"


class Store:
    """Conversations, their transcripts and stored responses in one SQLite file.

    Open with :meth:`open` and close with :meth:`aclose` (or ``async with``). Every method is
    async and runs its query in a worker thread, one at a time. A method called after
    :meth:`aclose` raises :class:`trio.ClosedResourceError`; any SQLite failure is a
    :class:`StorageError` naming the file.
    """

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        """Wrap an open, migrated connection; use :meth:`open` rather than this."""
        self._connection: sqlite3.Connection | None = connection
        self._path = path
        self._limiter = trio.CapacityLimiter(1)

    @property
    def path(self) -> str:
        """The file (or ``":memory:"``) as :meth:`open` was given it."""
        return self._path

    @classmethod
    async def open(cls, path: Path | str) -> Store:
        """Open (or create) the store at ``path``, making its parent folders; ``":memory:"``
        keeps it in memory. Raises :class:`StorageError` naming the path if it cannot."""
        name = str(path)
        # Shielded: an open that trio cancelled would finish in its thread anyway, and its
        # connection would then be dropped unclosed.
        with trio.CancelScope(shield=True):
            connection = await trio.to_thread.run_sync(_connect, name)
        store = cls(connection, name)
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            await store.aclose()
            raise
        return store

    async def aclose(self) -> None:
        """Close the connection, after the call in progress; closing again does nothing."""
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self._close, limiter=self._limiter)

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # Conversations.

    async def put(self, record: ConversationRecord) -> None:
        """Store ``record``, replacing the one with its id. Raises :class:`StorageError` if
        that id is another key's conversation (which is left as it was)."""
        await self._call(self._put, attrs.astuple(record))

    async def get(self, key_id: str, id: str) -> ConversationRecord | None:
        """The conversation ``id``, or ``None`` if there is none of ``key_id``'s."""
        rows = await self._call(_rows, _GET, (key_id, id))
        return ConversationRecord(*rows[0]) if rows else None

    async def find(
        self, key_id: str, provider: str, model: str, head: str
    ) -> ConversationRecord | None:
        """The conversation of ``key_id`` on ``provider``/``model`` whose current head is
        ``head`` (the most recently used if several), or ``None``."""
        rows = await self._call(_rows, _FIND, (key_id, provider, model, head))
        return ConversationRecord(*rows[0]) if rows else None

    async def list(
        self, key_id: str, *, limit: int = 100, before: float | None = None
    ) -> builtins.list[ConversationRecord]:
        """``key_id``'s conversations, the most recently used first, at most ``limit``;
        with ``before``, only those last used before that time (the next page)."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        if before is None:
            rows = await self._call(_rows, _LIST, (key_id, limit))
        else:
            rows = await self._call(_rows, _LIST_BEFORE, (key_id, before, limit))
        return [ConversationRecord(*row) for row in rows]

    async def delete(self, key_id: str, id: str) -> ConversationRecord | None:
        """Delete ``key_id``'s conversation ``id`` with its transcript and responses, and
        return it as it was; ``None`` if there is none of ``key_id``'s."""
        return await self._call(_delete, key_id, id)

    async def expired(self, updated_before: float) -> builtins.list[ConversationRecord]:
        """Every key's conversations last used before ``updated_before``, oldest first.
        Nothing is deleted: the caller ends their CLI sessions, then :meth:`delete` s them."""
        rows = await self._call(_rows, _EXPIRED, (updated_before,))
        return [ConversationRecord(*row) for row in rows]

    # Transcripts.

    async def append_turns(
        self, conversation_id: str, messages: Sequence[Mapping[str, Any]]
    ) -> None:
        """Append ``messages`` (JSON-able mappings) to the conversation's transcript, in
        order, after what it holds. Raises :class:`UnknownConversationError` if the store has
        no such conversation (it may have been deleted meanwhile), ``TypeError`` if a message
        is not JSON-able; either way nothing is appended."""
        if messages:
            await self._call(self._append, conversation_id, messages)
        else:
            await trio.lowlevel.checkpoint()

    async def turns(self, conversation_id: str) -> builtins.list[dict[str, Any]]:
        """The conversation's transcript, in the order it was appended."""
        return await self._call(_transcript, conversation_id)

    # Stored responses.

    async def put_response(self, response: StoredResponse) -> None:
        """Store ``response``, replacing the one with its id. Raises
        :class:`UnknownConversationError` if its conversation is not its key's, and
        :class:`StorageError` if its id is another key's response."""
        await self._call(self._put_response, response)

    async def get_response(self, key_id: str, id: str) -> StoredResponse | None:
        """The response ``id``, or ``None`` if there is none of ``key_id``'s."""
        rows = await self._call(_rows, _GET_RESPONSE, (key_id, id))
        return StoredResponse(*rows[0]) if rows else None

    async def expire_responses(self, created_before: float) -> int:
        """Delete every key's responses made before ``created_before``; how many went."""
        return await self._call(_expire_responses, created_before)

    # Totals.

    async def stats(self, key_id: str | None = None) -> dict[str, Any]:
        """Totals over ``key_id``'s conversations (every key's with ``None``).

        ``conversations``, ``turns`` (the sum of their ``turns``), ``messages`` (transcript
        entries), ``responses``, the three token sums, ``oldest`` (the earliest
        ``created_at``) and ``newest`` (the latest ``updated_at``), both ``None`` when there
        is no conversation.
        """
        return await self._call(_stats, key_id)

    # API keys (see cliwrap.access.keys; cliwrap.access.sqlite adapts these to KeyStore).

    async def create_key(self, key: ApiKey) -> None:
        """Store ``key``; :class:`~cliwrap.access.keys.KeyExistsError` if an active key
        has its name (or a key its id)."""
        await self._call(_create_key, key)

    async def list_keys(self, *, include_revoked: bool = False) -> builtins.list[ApiKey]:
        """The keys, oldest first; the revoked ones too if asked."""
        where = "" if include_revoked else " WHERE revoked IS NULL"
        query = f"SELECT {_KEY_COLUMNS} FROM api_keys{where} ORDER BY created, rowid"
        return [_key(row) for row in await self._call(_rows, query, ())]

    async def revoke_key(self, name: str, at: float) -> ApiKey | None:
        """Revoke the active key ``name`` at ``at``; the key revoked, or ``None``."""
        return await self._call(_revoke_key, name, at)

    async def lookup_key(self, key_id: str) -> ApiKey | None:
        """The key with id ``key_id``, revoked or not, or ``None``."""
        query = f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?"
        rows = await self._call(_rows, query, (key_id,))
        return _key(rows[0]) if rows else None

    # Usage per key, model and UTC day (see cliwrap.access.usage).

    async def add_usage(
        self,
        key_name: str,
        model: str,
        day: str,
        counts: tuple[int, int, int, float],
        requests: int = 1,
    ) -> None:
        """Add ``requests`` and ``counts`` (input, output, cached tokens, dollars: see
        :func:`cliwrap.access.usage.counters`) to the row of (key, model, day)."""
        await self._call(_rows, _ADD_USAGE, (key_name, model, day, requests, *counts))

    async def usage_rows(
        self, key_name: str | None, since: str, until: str
    ) -> builtins.list[UsageRow]:
        """The rows from day ``since`` to ``until`` (both included), of ``key_name`` only
        (every key's with ``None``), by day, key and model."""
        where, params = "day >= ? AND day <= ?", [since, until]
        if key_name is not None:
            where, params = f"key_name = ? AND {where}", [key_name, *params]
        query = f"SELECT {_USAGE_COLUMNS} FROM usage WHERE {where} ORDER BY day, key_name, model"
        return [UsageRow(*row) for row in await self._call(_rows, query, tuple(params))]

    async def spent(self, key_name: str, since_day: str) -> tuple[int, float]:
        """``key_name``'s input plus output tokens, and dollars, from ``since_day`` on."""
        query = (
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0), COALESCE(SUM(cost_usd), 0)"
            " FROM usage WHERE key_name = ? AND day >= ?"
        )
        ((tokens, usd),) = await self._call(_rows, query, (key_name, since_day))
        return int(tokens), float(usd)

    # In the worker thread.

    async def _call(self, work: Callable[..., T], *args: Any) -> T:
        return await trio.to_thread.run_sync(partial(self._run, work, *args), limiter=self._limiter)

    def _run(self, work: Callable[..., T], *args: Any) -> T:
        connection = self._connection
        if connection is None:
            raise trio.ClosedResourceError(f"the conversation store {self._path} is closed")
        try:
            return work(connection, *args)
        except sqlite3.Error as exc:
            raise StorageError(f"{self._path}: {exc}") from exc

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _put(self, connection: sqlite3.Connection, values: tuple[Any, ...]) -> None:
        if connection.execute(_PUT, values).rowcount == 0:
            raise StorageError(f"{self._path}: conversation {values[0]!r} is another key's")

    def _append(
        self,
        connection: sqlite3.Connection,
        conversation_id: str,
        messages: Sequence[Mapping[str, Any]],
    ) -> None:
        encoded = [json.dumps(dict(message), separators=(",", ":")) for message in messages]
        with _transaction(connection):
            known = connection.execute(
                "SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)
            ).fetchone()
            if known is None:
                raise UnknownConversationError(f"{self._path}: no conversation {conversation_id!r}")
            (start,) = connection.execute(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM transcript WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            connection.executemany(
                "INSERT INTO transcript (conversation_id, seq, message) VALUES (?, ?, ?)",
                [(conversation_id, start + i, text) for i, text in enumerate(encoded)],
            )

    def _put_response(self, connection: sqlite3.Connection, response: StoredResponse) -> None:
        with _transaction(connection):
            known = connection.execute(
                "SELECT 1 FROM conversations WHERE id = ? AND key_id = ?",
                (response.conversation_id, response.key_id),
            ).fetchone()
            if known is None:
                raise UnknownConversationError(
                    f"{self._path}: no conversation {response.conversation_id!r}"
                    " for the response's key"
                )
            if connection.execute(_PUT_RESPONSE, attrs.astuple(response)).rowcount == 0:
                raise StorageError(f"{self._path}: response {response.id!r} is another key's")


def _connect(name: str) -> sqlite3.Connection:
    """Open and migrate the store at ``name`` (in a worker thread)."""
    try:
        if name != ":memory:":
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            name, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"{name}: cannot open the conversation store: {_reason(exc)}") from None
    try:
        connection.execute("PRAGMA journal_mode = WAL").fetchone()
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA foreign_keys = ON")
        _migrate(connection, name)
    except sqlite3.Error as exc:
        connection.close()
        raise StorageError(f"{name}: cannot open the conversation store: {exc}") from None
    except BaseException:
        connection.close()
        raise
    return connection


def _reason(exc: OSError | sqlite3.Error) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def _migrate(connection: sqlite3.Connection, name: str) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION`, under the write lock (another server may be
    migrating the same file at the same moment)."""
    if _user_version(connection) == SCHEMA_VERSION:
        return
    with _transaction(connection):
        version = _user_version(connection)
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{name}: the conversation store was written by a newer cliwrap (schema"
                f" version {version}; this one knows versions up to {SCHEMA_VERSION})"
            )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _user_version(connection: sqlite3.Connection) -> int:
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    return int(version)


@contextlib.contextmanager
def _transaction(connection: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE") -> Iterator[None]:
    """One transaction: committed if the block ends normally, else rolled back."""
    connection.execute(begin)
    try:
        yield
    except BaseException:
        if connection.in_transaction:
            connection.rollback()
        raise
    connection.execute("COMMIT")


def _rows(connection: sqlite3.Connection, query: str, params: tuple[Any, ...]) -> list[Any]:
    return connection.execute(query, params).fetchall()


def _delete(connection: sqlite3.Connection, key_id: str, id: str) -> ConversationRecord | None:
    with _transaction(connection):
        row = connection.execute(_GET, (key_id, id)).fetchone()
        if row is None:
            return None
        # The foreign keys take its transcript and responses with it.
        connection.execute("DELETE FROM conversations WHERE id = ?", (id,))
    return ConversationRecord(*row)


def _transcript(connection: sqlite3.Connection, conversation_id: str) -> list[dict[str, Any]]:
    rows = connection.execute(
        "SELECT message FROM transcript WHERE conversation_id = ? ORDER BY seq",
        (conversation_id,),
    ).fetchall()
    return [json.loads(text) for (text,) in rows]


def _expire_responses(connection: sqlite3.Connection, created_before: float) -> int:
    return connection.execute(
        "DELETE FROM responses WHERE created_at < ?", (created_before,)
    ).rowcount


def _stats(connection: sqlite3.Connection, key_id: str | None) -> dict[str, Any]:
    where, params = ("WHERE key_id = ?", (key_id,)) if key_id is not None else ("", ())
    # One read transaction: the three counts describe the same moment.
    with _transaction(connection, "BEGIN"):
        conversations, turns, input_tokens, output_tokens, cached, oldest, newest = (
            connection.execute(
                "SELECT COUNT(*), COALESCE(SUM(turns), 0), COALESCE(SUM(input_tokens), 0),"
                " COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_tokens), 0),"
                f" MIN(created_at), MAX(updated_at) FROM conversations {where}",
                params,
            ).fetchone()
        )
        (messages,) = connection.execute(
            "SELECT COUNT(*) FROM transcript"
            f" JOIN conversations ON conversations.id = transcript.conversation_id {where}",
            params,
        ).fetchone()
        (responses,) = connection.execute(
            f"SELECT COUNT(*) FROM responses {where}", params
        ).fetchone()
    return {
        "conversations": conversations,
        "turns": turns,
        "messages": messages,
        "responses": responses,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_tokens": cached,
        "oldest": oldest,
        "newest": newest,
    }


def _key(row: tuple[Any, ...]) -> ApiKey:
    id_, name, prefix, created, revoked, admin, limits = row
    return ApiKey(
        id=id_,
        name=name,
        prefix=prefix,
        created=created,
        revoked=revoked,
        admin=bool(admin),
        limits=KeyLimits.from_dict(json.loads(limits)),
    )


def _create_key(connection: sqlite3.Connection, key: ApiKey) -> None:
    limits = json.dumps(key.limits.as_dict(), separators=(",", ":"))
    try:
        connection.execute(
            f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key.id, key.name, key.prefix, key.created, key.revoked, int(key.admin), limits),
        )
    except sqlite3.IntegrityError:
        raise KeyExistsError(f"there is already an active key named {key.name!r}") from None


def _revoke_key(connection: sqlite3.Connection, name: str, at: float) -> ApiKey | None:
    with _transaction(connection):
        row = connection.execute(
            f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE name = ? AND revoked IS NULL", (name,)
        ).fetchone()
        if row is None:
            return None
        connection.execute("UPDATE api_keys SET revoked = ? WHERE id = ?", (at, row[0]))
    return attrs.evolve(_key(row), revoked=at)
