"""Conversations across requests: which one a request continues, and its turn on the CLI.

:class:`Conversations` keeps every known conversation in memory (and, through the
:class:`~cliwrap.storage.Store`, on disk: a restarted server continues where it was). A
request continues one when it names it (``session_id``, ``X-Session-Id``,
``previous_response_id``) or, for a stateless client, when the fingerprint of its history
matches one of the same key, provider and model (:mod:`cliwrap.conversations.fingerprint`).
Anything else starts a new conversation whose history, if it has one, is seeded into the
CLI's session as turns of their own.

Its turn then runs on the conversation's live CLI process, leased from the
:class:`~cliwrap.runtime.sessions.SessionPool` (or a new one, seeded with the history when
there is any). Only a finished answer moves a conversation on: its fingerprint then covers
the answer too, as the client will send it back, and the transcript (what a new process
would be seeded with) grows by the turn.

Two requests for one conversation at once: ``latest_wins`` cancels the running turn (its
client gets a 409 ``conversation_superseded``), ``queue`` waits for it. A request whose
history no longer matches once its turn comes (the turn before it moved the conversation
on) continues as a new conversation, seeded with the history it sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import trio

from ..config import SessionsConfig
from ..conversations import AnswerRecorder, advanced, from_record, message_record, split
from ..core.errors import ApiError, ErrorKind
from ..core.events import Finished, Outcome
from ..core.request import ChatRequest, Message
from ..providers.base import SessionStart
from ..storage import ConversationRecord, Store, StoredResponse
from .sessions import Lease, LiveProcess, SessionPool, SessionRecipe
from .warmup import Warmup

__all__ = ["Continuation", "Conversation", "Conversations", "TurnSpec", "named_id"]

log = logging.getLogger(__name__)


@attrs.define(eq=False)
class Conversation:
    """One conversation as the server keeps it between requests."""

    record: ConversationRecord
    transcript: list[Message] | None = None
    """Its turns so far, as the client sent and was answered (None: not loaded yet)."""
    live: LiveProcess | None = None
    """The CLI process holding it, when there is one."""
    lock: trio.Lock = attrs.field(factory=trio.Lock)
    running: trio.CancelScope | None = None
    """The turn in progress (``latest_wins`` cancels it)."""
    deleted: bool = False
    system: str | None = None
    """A digest of the client's system prompt (None: not known, read back from the store)."""


@attrs.frozen
class Continuation:
    """What a request continues, and what it adds."""

    conversation: Conversation
    history: tuple[Message, ...]
    """Every earlier turn (the client's, or the transcript when it sent only new ones)."""
    new: tuple[Message, ...]
    head: str
    """The conversation's fingerprint this request continues from."""
    follows_latest: bool = False
    """The client sent only its new turns (naming the conversation): they follow whatever
    the conversation holds when their turn comes, even if a queued turn came first."""

    def request(self, chat: ChatRequest) -> ChatRequest:
        """``chat`` with the whole conversation: its system messages, then every turn."""
        system = tuple(m for m in chat.messages if m.role == "system" and not m.in_conversation)
        return attrs.evolve(chat, messages=(*system, *self.history, *self.new))


@attrs.frozen
class TurnSpec:
    """What a turn needs that only the service knows: the CLI's side of it."""

    shape: str
    recipe: Callable[[SessionStart], SessionRecipe]
    """The process for a session start (a new session, or one seeded with turns)."""
    for_cli: ChatRequest
    """The whole request as the CLI gets it (plain turns, tool contract in the system)."""
    recorder: AnswerRecorder
    response_id: str | None = None
    """The Responses API id of this turn's answer, for a later ``previous_response_id``."""
    rebuild: Callable[[tuple[Message, ...], tuple[Message, ...]], ChatRequest] | None = None
    """:attr:`for_cli` again for another history (a queued turn's came first)."""


class Conversations:
    """The registry of conversations (see the module docstring)."""

    def __init__(
        self,
        pool: SessionPool,
        settings: SessionsConfig,
        store: Store | None,
        warmup: Warmup | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.store = store
        self.warmup = warmup
        self._by_id: dict[tuple[str, str], Conversation] = {}
        self._by_head: dict[tuple[str, str, str, str], Conversation] = {}
        self._responses: dict[tuple[str, str], StoredResponse] = {}
        self.turns = 0
        self.continued = 0
        """Turns that continued a live process (the rest started one)."""

    # -- finding -------------------------------------------------------------------------

    async def resolve(self, key: str, provider: str, model: str, chat: ChatRequest) -> Continuation:
        """The conversation ``chat`` continues, or a new one."""
        cut = split(chat.conversation)
        if chat.previous_response_id is not None:
            return await self._after_response(key, chat, cut.new or chat.conversation)
        if chat.session is not None:
            return await self._named(key, provider, model, chat.session, chat)
        if cut.history:
            found = await self._find(key, provider, model, cut.head)
            if found is not None:
                return Continuation(found, cut.history, cut.new, cut.head)
        conversation = self._new(key, provider, model, _new_id(), cut.head)
        conversation.transcript = list(cut.history)
        return Continuation(conversation, cut.history, cut.new, cut.head)

    async def _named(
        self, key: str, provider: str, model: str, name: str, chat: ChatRequest
    ) -> Continuation:
        """A conversation the client names: the request holds its whole history (the head
        matches), or only the new turns (the predecessors' session mode)."""
        cut = split(chat.conversation)
        system = _system_digest(chat)
        # A name, or the id cliwrap gave an unnamed one (its X-Session-Id).
        conversation = await self.get(key, name) or await self.get(key, named_id(key, name))
        if conversation is not None and conversation.system not in (None, system):
            # The same name with another system prompt: another conversation of that client
            # (OpenCode sends one X-Session-Id with its title requests and its agent's).
            conversation = await self.get(key, named_id(key, f"{name}\0{system}"))
            if conversation is None:
                id_ = named_id(key, f"{name}\0{system}")
                conversation = self._new(key, provider, model, id_, cut.head, name)
                conversation.transcript = list(cut.history)
                conversation.system = system
                return Continuation(conversation, cut.history, cut.new, cut.head)
        if conversation is None:
            conversation = self._new(key, provider, model, named_id(key, name), cut.head, name)
            conversation.transcript = list(cut.history)
            conversation.system = system
            return Continuation(conversation, cut.history, cut.new, cut.head)
        conversation.system = system
        head = conversation.record.head
        if cut.history and cut.head == head:
            return Continuation(conversation, cut.history, cut.new, head)
        transcript = await self._transcript(conversation)
        if not cut.history or not _starts_with(chat.conversation, transcript):
            if cut.history:
                # Its own account of the past wins: the client edited or compacted it.
                self._rehead(conversation, cut.head)
                conversation.transcript = list(cut.history)
                return Continuation(conversation, cut.history, cut.new, cut.head)
            return Continuation(
                conversation, tuple(transcript), chat.conversation, head, follows_latest=True
            )
        new = chat.conversation[len(transcript) :]
        return Continuation(conversation, tuple(transcript), new, head)

    async def _after_response(
        self, key: str, chat: ChatRequest, new: tuple[Message, ...]
    ) -> Continuation:
        assert chat.previous_response_id is not None
        stored = self._responses.get((key, chat.previous_response_id))
        if stored is None and self.store is not None:
            stored = await self.store.get_response(key, chat.previous_response_id)
        conversation = await self.get(key, stored.conversation_id) if stored else None
        if stored is None or conversation is None:
            raise ApiError(
                ErrorKind.INVALID_REQUEST,
                f"Previous response with id '{chat.previous_response_id}' not found.",
                param="previous_response_id",
            )
        transcript = await self._transcript(conversation)
        if stored.head == conversation.record.head:
            return Continuation(conversation, tuple(transcript), new, stored.head)
        # A branch from an earlier response: a new conversation with the history up to it.
        turns = int((_json(stored.body) or {}).get("cliwrap_turns", len(transcript)))
        history = tuple(transcript[:turns])
        record = conversation.record
        branch = self._new(key, record.provider, record.model, _new_id(), stored.head)
        branch.transcript = list(history)
        return Continuation(branch, history, new, stored.head)

    async def get(self, key: str, id_: str) -> Conversation | None:
        """The conversation ``id_`` of ``key`` (memory first, then the store)."""
        found = self._by_id.get((key, id_))
        if found is None and self.store is not None:
            record = await self.store.get(key, id_)
            if record is not None:
                found = self._adopt(record)
        return found

    async def _find(self, key: str, provider: str, model: str, head: str) -> Conversation | None:
        found = self._by_head.get((key, provider, model, head))
        if found is None and self.store is not None:
            record = await self.store.find(key, provider, model, head)
            if record is not None:
                found = self._by_id.get((key, record.id)) or self._adopt(record)
        return found

    def _adopt(self, record: ConversationRecord) -> Conversation:
        conversation = Conversation(record)
        self._by_id[(record.key_id, record.id)] = conversation
        self._by_head[_head_key(record)] = conversation
        return conversation

    def _new(
        self, key: str, provider: str, model: str, id_: str, head: str, name: str | None = None
    ) -> Conversation:
        now = time.time()
        record = ConversationRecord(
            name=name,
            id=id_,
            key_id=key,
            provider=provider,
            model=model,
            shape="",
            head=head,
            created_at=now,
            updated_at=now,
        )
        return self._adopt(record)

    def _rehead(self, conversation: Conversation, head: str) -> None:
        """The client's history replaces what was kept: the stored turns go (the next save
        writes the whole history again)."""
        self._by_head.pop(_head_key(conversation.record), None)
        conversation.record = attrs.evolve(conversation.record, head=head, turns=0)
        store, record = self.store, conversation.record
        if store is not None and self.pool.running:

            async def forget() -> None:
                await store.delete(record.key_id, record.id)

            self.pool.later(forget)
        self._by_head[_head_key(conversation.record)] = conversation
        if conversation.live is not None:
            conversation.live.retire()  # its history is not the client's any more
            conversation.live = None

    async def _transcript(self, conversation: Conversation) -> list[Message]:
        if conversation.transcript is None:
            stored = await self.store.turns(conversation.record.id) if self.store else []
            conversation.transcript = [from_record(r) for r in stored]
        return conversation.transcript

    # -- a turn ----------------------------------------------------------------------------

    @asynccontextmanager
    async def turn(self, continuation: Continuation, spec: TurnSpec) -> AsyncIterator[Lease]:
        """Lease the conversation's CLI process for this request's turn (see the module
        docstring); on a finished answer, move the conversation on."""
        conversation = continuation.conversation
        async with self._slot(conversation) as scope:
            if continuation.follows_latest and not conversation.deleted:
                history = tuple(await self._transcript(conversation))
                continuation = attrs.evolve(
                    continuation, history=history, head=conversation.record.head
                )
                if spec.rebuild is not None:
                    spec = attrs.evolve(spec, for_cli=spec.rebuild(history, continuation.new))
            elif conversation.record.head != continuation.head or conversation.deleted:
                # The turn before this one moved it on: this history is another branch.
                record = conversation.record
                conversation = self._new(
                    record.key_id, record.provider, record.model, _new_id(), continuation.head
                )
                conversation.transcript = list(continuation.history)
                continuation = attrs.evolve(continuation, conversation=conversation)
                conversation.running = scope
            plain = spec.for_cli.conversation
            cut = len(continuation.history)
            live = await self._process(conversation, spec, plain[:cut])
            data, parser = live.session.turn(spec.for_cli, plain[cut:])
            lease: Lease | None = None
            try:
                async with self.pool.lease(live, data, parser) as lease:
                    yield lease
            finally:
                if lease is None or not lease.clean:
                    conversation.live = None
            if isinstance(lease.outcome, Finished):
                self._advanced(continuation, spec.recorder, spec.response_id)
        if scope.cancelled_caught:
            if conversation.deleted:
                raise ApiError(
                    ErrorKind.NOT_FOUND, "The conversation was deleted during this turn."
                )
            raise ApiError(
                ErrorKind.SUPERSEDED,
                "A newer request for this conversation replaced this one "
                "(sessions.concurrent = latest_wins).",
            )

    @asynccontextmanager
    async def _slot(self, conversation: Conversation) -> AsyncIterator[trio.CancelScope]:
        """The conversation's one running turn; ``latest_wins`` cancels the one before."""
        if self.settings.concurrent == "latest_wins" and conversation.running is not None:
            conversation.running.cancel()
        with trio.CancelScope() as scope:
            async with conversation.lock:
                conversation.running = scope
                try:
                    yield scope
                finally:
                    if conversation.running is scope:
                        conversation.running = None

    async def _process(
        self, conversation: Conversation, spec: TurnSpec, history: tuple[Message, ...]
    ) -> LiveProcess:
        """The conversation's live process if it suits this turn, else a new one."""
        live = conversation.live
        self.turns += 1
        if live is not None and live.alive and not live.leased and live.shape == spec.shape:
            self.continued += 1
            return live
        if live is not None:
            live.retire()
        start = SessionStart(str(uuid.uuid4()), seed=history)
        ready = None
        if not history and self.warmup is not None:
            fresh = partial(_fresh_recipe, spec.recipe)
            ready = self.warmup.take(spec.shape, conversation.record.provider, fresh)
        if ready is not None:
            start = attrs.evolve(start, session_id="")  # the ready one chose its own
            live = ready
        else:
            try:
                live = await self.pool.start(spec.shape, spec.recipe(start))
            except OSError as exc:  # not executable, wrong format, ledger unwritable, ...
                reason = exc.strerror or str(exc)
                raise ApiError(
                    ErrorKind.CLI_FAILED, f"Could not start the CLI: {reason}."
                ) from None
        conversation.live = live
        conversation.record = attrs.evolve(
            conversation.record, shape=spec.shape, cli_session_id=start.session_id or None
        )
        return live

    def finished(
        self,
        continuation: Continuation,
        recorder: AnswerRecorder,
        response_id: str | None,
        outcome: Outcome,
    ) -> None:
        """A run of its own (a CLI without live sessions) answered a turn of ``continuation``."""
        if isinstance(outcome, Finished):
            self._advanced(continuation, recorder, response_id)

    def _advanced(
        self, continuation: Continuation, recorder: AnswerRecorder, response_id: str | None
    ) -> None:
        """A finished turn: the conversation now ends with its new turns and the answer."""
        conversation = continuation.conversation
        if conversation.deleted:
            return  # deleted while its last turn ran: nothing of it is kept
        added = (*continuation.new, recorder.message)
        head = advanced(continuation.head, added)
        usage = recorder.usage
        record = conversation.record
        self._by_head.pop(_head_key(record), None)
        conversation.record = attrs.evolve(
            record,
            head=head,
            turns=record.turns + 1,
            input_tokens=record.input_tokens + usage.input_tokens + usage.cache_write_tokens,
            output_tokens=record.output_tokens + usage.output_tokens,
            cached_tokens=record.cached_tokens + usage.cache_read_tokens,
            updated_at=time.time(),
        )
        self._by_head[_head_key(conversation.record)] = conversation
        if conversation.transcript is not None:
            conversation.transcript.extend(added)
        self._save(conversation, continuation.history, added)
        if response_id is not None:
            self._remember(conversation, response_id, len(continuation.history) + len(added))

    def _save(
        self, conversation: Conversation, history: tuple[Message, ...], added: tuple[Message, ...]
    ) -> None:
        """Write the turn to the store, in the pool's nursery (the answer need not wait)."""
        store = self.store
        if store is None or not self.pool.running:
            return
        record = conversation.record
        first = record.turns == 1
        rows = [message_record(m) for m in ((*history, *added) if first else added)]

        async def save() -> None:
            try:
                await store.put(record)
                await store.append_turns(record.id, rows)
            except Exception:
                log.exception("could not store conversation %s", record.id)

        self.pool.later(save)

    def _remember(self, conversation: Conversation, response_id: str, turns: int) -> None:
        """Keep a Responses API answer's id, so that ``previous_response_id`` finds it."""
        record = conversation.record
        stored = StoredResponse(
            id=response_id,
            key_id=record.key_id,
            conversation_id=record.id,
            head=record.head,
            created_at=time.time(),
            body=json.dumps({"cliwrap_turns": turns}),
        )
        self._responses[(record.key_id, response_id)] = stored
        store = self.store
        if store is not None and self.pool.running:

            async def save() -> None:
                try:
                    await store.put_response(stored)
                except Exception:
                    log.exception("could not store response %s", response_id)

            self.pool.later(save)

    # -- management ------------------------------------------------------------------------

    async def delete(self, key: str, id_: str) -> ConversationRecord | None:
        """Forget a conversation of ``key``: end its process, drop it from the store."""
        conversation = await self.get(key, id_)
        if conversation is None:
            return None
        conversation.deleted = True
        if conversation.running is not None:
            conversation.running.cancel()
        if conversation.live is not None:
            conversation.live.retire()
        self._by_id.pop((key, id_), None)
        self._by_head.pop(_head_key(conversation.record), None)
        if self.store is not None:
            await self.store.delete(key, id_)
        return conversation.record

    async def expire(self, used_before: float, answered_before: float) -> None:
        """Forget conversations unused since ``used_before`` (their processes end) and stored
        responses made before ``answered_before``."""
        resting = time.time() - self.settings.idle_timeout
        for (key, id_), conversation in list(self._by_id.items()):
            record = conversation.record
            if conversation.lock.locked():
                continue
            if record.updated_at < used_before:
                await self.delete(key, id_)
            elif (
                self.store is not None
                and record.updated_at < resting
                and not (conversation.live and conversation.live.alive)
            ):
                # At rest and stored: memory need not hold it (it is read back if it goes on).
                self._by_id.pop((key, id_), None)
                if self._by_head.get(_head_key(record)) is conversation:
                    del self._by_head[_head_key(record)]
        for ident, stored in list(self._responses.items()):
            kept_elsewhere = self.store is not None and stored.created_at < resting
            if stored.created_at < answered_before or kept_elsewhere:
                del self._responses[ident]
        if self.store is not None:
            for record in await self.store.expired(used_before):
                await self.store.delete(record.key_id, record.id)
            await self.store.expire_responses(answered_before)

    async def named(self, key: str, id_: str) -> Conversation | None:
        """The conversation of ``key`` by its id or by the name its client gave it."""
        return await self.get(key, id_) or await self.get(key, named_id(key, id_))

    async def listed(
        self, key: str, limit: int, before: float | None = None
    ) -> list[ConversationRecord]:
        """``key``'s conversations, most recently used first (what the store holds, and those
        not stored yet)."""
        records = {
            c.record.id: c.record
            for (owner, _), c in self._by_id.items()
            if owner == key and (before is None or c.record.updated_at < before)
        }
        if self.store is not None:
            for record in await self.store.list(key, limit=limit, before=before):
                records.setdefault(record.id, record)
        ordered = sorted(records.values(), key=lambda r: r.updated_at, reverse=True)
        return ordered[:limit]

    def is_live(self, key: str, id_: str) -> bool:
        conversation = self._by_id.get((key, id_))
        return bool(conversation and conversation.live and conversation.live.alive)

    async def stats(self, key: str) -> dict[str, Any]:
        """``key``'s totals (from the store when there is one) and the server's processes."""
        mine = [c.record for (owner, _), c in self._by_id.items() if owner == key]
        await self.pool.measure()
        if self.store is not None:
            totals = await self.store.stats(key)
        else:
            totals = {
                "conversations": len(mine),
                "turns": sum(r.turns for r in mine),
                "input_tokens": sum(r.input_tokens for r in mine),
                "output_tokens": sum(r.output_tokens for r in mine),
                "cached_tokens": sum(r.cached_tokens for r in mine),
            }
        return {
            **totals,
            "live_conversations": sum(self.is_live(key, r.id) for r in mine),
            "turns_served": self.turns,
            "turns_on_a_live_process": self.continued,
            "processes": self.pool.stats(),
            "stored": self.store is not None,
        }


def _fresh_recipe(recipe: Callable[[SessionStart], SessionRecipe]) -> SessionRecipe:
    """A recipe for a new session (no history) of its own id."""
    return recipe(SessionStart(str(uuid.uuid4())))


def _system_digest(chat: ChatRequest) -> str:
    return hashlib.sha256((chat.system_prompt or "").encode()).hexdigest()[:16]


def _head_key(record: ConversationRecord) -> tuple[str, str, str, str]:
    return (record.key_id, record.provider, record.model, record.head)


def _new_id() -> str:
    return "conv_" + secrets.token_hex(12)


def named_id(key: str, name: str) -> str:
    """The id of the conversation ``key``'s client named ``name``: ids are unique across
    keys, names only within one, so two clients may both call theirs "my-session"."""
    return "sess_" + hashlib.sha256(f"{key}\0{name}".encode()).hexdigest()[:24]


def _starts_with(turns: tuple[Message, ...], prefix: list[Message]) -> bool:
    """Whether ``turns`` begins with ``prefix`` (by fingerprint)."""
    return len(turns) >= len(prefix) and advanced("", turns[: len(prefix)]) == advanced("", prefix)


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None
