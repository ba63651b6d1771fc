"""The composition root: everything a request needs, built once from the config.

:class:`Service` wires the config to the runtime (admission, ledger, deadlines, drain), the
routing catalog, the providers and the inventory. The Quart app, the WebSocket sessions and
``cliwrap doctor`` all use it; none of them builds any of it again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import trio

from ..access import ApiKey, Keyring, UsageRecorder, budget_error, period_of
from ..access.limiter import Counters, Limiter, MemoryCounters
from ..access.redis_keys import RedisKeys, RedisUsage
from ..access.redis_store import RedisConnection, RedisCounters
from ..access.sqlite import SqliteKeys, SqliteUsage
from ..config import Config, ProviderConfig
from ..conversations import AnswerRecorder, key_id, shape_of
from ..core.errors import ApiError, ErrorKind
from ..core.request import ChatRequest, Message
from ..health.login import DEFAULT_TRUST, LoginBoard, LoginState, RunWatch
from ..health.plans import plan_only_environment
from ..health.probes import probe_login
from ..health.quota import QuotaFilter
from ..observability.metrics import Metrics
from ..providers import PROVIDERS, Provider, find_command
from ..providers.base import Invocation, LiveSession, SessionProvider, SessionStart
from ..providers.failures import LoginHint
from ..providers.limits import TokenLimits, limits_for
from ..providers.routing import Catalog, Route
from ..runtime.admission import Gate
from ..runtime.backend import PosixBackend, ProcessBackend
from ..runtime.cleanup import SessionFiles
from ..runtime.conversations import Continuation, Conversations, TurnSpec
from ..runtime.decoder import Decoders
from ..runtime.image_fetch import fetch_images
from ..runtime.inventory import CliInfo, Inventory
from ..runtime.job import JobPlan, Runtime
from ..runtime.ledger import Ledger
from ..runtime.runs import Caller, Runs
from ..runtime.sessions import LiveProcess, SessionPool, SessionRecipe
from ..runtime.warmup import Warmup
from ..semantics.chain import EventFilter, semantics_for
from ..storage import StorageError, Store
from ..surfaces.models import ModelEntry

__all__ = ["Service", "check_input_size", "key_caller", "ledger_for"]

log = logging.getLogger(__name__)

_EXPIRY_PERIOD = 60.0
"""How often expired conversations are forgotten and due session files removed (seconds)."""
_EXIT_WAIT = 5.0
"""After a deleted conversation's process was told to end, how long to wait for it."""


@attrs.frozen
class Service:
    """Everything the routes share, built once from the config."""

    config: Config
    runtime: Runtime
    catalog: Catalog
    environ: Mapping[str, str]
    inventory: Inventory
    pool: SessionPool
    conversations: Conversations
    warmup: Warmup
    session_files: SessionFiles
    metrics: Metrics
    runs: Runs
    """The live chat requests and the last ones that settled (``/v1/requests``)."""
    keys: Keyring
    """Which key a request presented (the config's and the stored ones)."""
    usage: UsageRecorder
    """The run observer that records usage per key, model and day; its ``store`` answers
    ``GET /v1/usage`` and the budget checks."""
    login: LoginBoard
    """Each enabled CLI's login verdict (cliwrap.health): probes and runs feed it."""
    suspects: trio.MemoryReceiveChannel[str]
    """CLIs a run found logged out, to probe at once (``watch_logins``)."""
    limiter: Limiter = attrs.field(factory=lambda: Limiter(MemoryCounters()))
    redis: RedisConnection | None = None
    """The Redis the instances share (``storage.redis_url``): the limiter's counters, and
    the keys' and usage's stores (:mod:`cliwrap.access.redis_keys`)."""

    @classmethod
    def from_config(
        cls,
        config: Config,
        environ: Mapping[str, str] | None = None,
        backend: ProcessBackend | None = None,
    ) -> Service:
        """Build everything from ``config``; ``backend`` replaces real processes (tests)."""
        enabled = {name: p for name, p in config.providers.items() if p.enabled}
        backend = backend or PosixBackend()
        environ = dict(os.environ if environ is None else environ)
        ledger = ledger_for(config)
        gate = Gate(config.limits.max_concurrent, config.limits.max_queue)
        metrics = Metrics(gate)
        runtime = Runtime(
            gate=gate,
            ledger=ledger,
            deadlines=config.deadlines,
            keepalive_interval=config.server.keepalive_interval,
            shutdown_grace=config.server.shutdown_grace,
            backend=backend,
            decoders=Decoders(
                backend,
                ledger_for(config, "workers"),
                config.deadlines.kill_grace,
            ),
            process_watch=metrics.process_started,
        )
        files = SessionFiles(config.state_path / "session-files")
        redis = RedisConnection(config.storage.redis_url) if config.storage.redis_url else None
        delay = config.storage.cleanup_delay

        def ended(live: LiveProcess) -> None:
            folder = live.files
            if folder is not None:

                async def schedule() -> None:
                    await runtime.blocking(files.schedule, folder, time.time() + delay)

                pool.later(schedule)

        pool = SessionPool(runtime, config.sessions, on_ended=ended)
        inventory = Inventory(enabled, environ, ledger_for(config, "probes"))
        warmup = Warmup(pool, config.warmup, inventory.warm)
        keyring = Keyring(config.server.api_keys)
        suspect, suspects = trio.open_memory_channel[str](2 * len(enabled) + 1)
        runs = Runs(partial(key_caller, keyring))
        usage = UsageRecorder()
        # Every settled chat request, told once: usage per key and model, and the metrics.
        runs.observe(usage)
        runs.observe(metrics.observe)
        limiter = limiter_for(config, redis)
        limiter.on_refusal = metrics.refused
        return cls(
            config=config,
            runtime=runtime,
            catalog=Catalog.of(enabled),
            environ=environ,
            inventory=inventory,
            pool=pool,
            conversations=Conversations(pool, config.sessions, None, warmup),
            warmup=warmup,
            session_files=files,
            login=LoginBoard(
                {name: PROVIDERS[name].login_hint for name in enabled},
                trust=config.health.login_interval or DEFAULT_TRUST,
                on_suspect=partial(_tell, suspect),
            ),
            suspects=suspects,
            metrics=metrics,
            runs=runs,
            keys=keyring,
            usage=usage,
            limiter=limiter,
            redis=redis,
        )

    async def run_sessions(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Own the conversations' CLI processes and the store (conversations, keys, usage)
        until cancelled (the server stops): then every live process is ended and the store
        closed."""
        store: Store | None = None
        try:
            store = await Store.open(self.config.storage_path)
        except StorageError as error:
            log.error(
                "conversations are kept in memory only, stored API keys and usage unused: %s",
                error,
            )
        self.conversations.store = store if self.config.sessions.enabled else None
        if self.redis is not None:  # shared with the other instances
            self.keys.store = RedisKeys(self.redis)
            self.usage.store = RedisUsage(self.redis)
        elif store is not None:
            self.keys.store = SqliteKeys(store)
            self.usage.store = SqliteUsage(store)
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.usage.run)
                await nursery.start(self.pool.run)
                await nursery.start(self.warmup.run)
                await nursery.start(self.limiter.counters.run)
                nursery.start_soon(self._expire)
                nursery.start_soon(self.watch_logins)
                task_status.started()
                await trio.sleep_forever()
        finally:
            if store is not None:
                with trio.CancelScope(shield=True):
                    await store.aclose()

    async def _expire(self) -> None:
        """Forget conversations and responses past their TTL; remove session files due."""
        storage = self.config.storage
        while True:
            now = time.time()
            await self.conversations.expire(
                now - storage.conversation_ttl, now - storage.response_ttl
            )
            await self.runtime.blocking(self.session_files.sweep, now)
            await trio.sleep(_EXPIRY_PERIOD)

    async def watch_logins(self) -> None:
        """Probe every enabled CLI's login now and every ``health.login_interval`` (0: never
        periodically), and a CLI at once when a run found it logged out: the probe's verdict
        is the one that refuses requests."""
        interval = self.config.health.login_interval
        if interval:
            await self.probe_logins()
        while True:
            with trio.move_on_after(interval or math.inf) as waited:
                suspect = await self.suspects.receive()
            if waited.cancelled_caught:
                await self.probe_logins()
            else:
                await self.probe_logins((suspect,))

    async def probe_logins(self, names: Iterable[str] | None = None) -> dict[str, LoginState]:
        """Ask every enabled CLI (or those ``names``) whether it is logged in, all at once;
        record the verdicts."""
        names = tuple(self.catalog.providers if names is None else names)
        ledger = ledger_for(self.config, "probes")
        found: dict[str, LoginState] = {}

        async def one(name: str) -> None:
            settings = self.catalog.providers[name]
            try:
                state = await probe_login(name, settings, self.environ, ledger)
            except Exception:  # a broken probe must not take the server down
                log.exception("%s: the login probe failed", name)
                state = LoginState(detail="the login probe failed; see the server log")
            found[name] = self.login.probed(name, state)

        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(one, name)
        return {name: found[name] for name in names}

    async def forget(self, key: str, id_: str) -> None:
        """``DELETE /v1/sessions/{id}``: the conversation, its process and its CLI's files."""
        conversation = await self.conversations.named(key, id_)
        if conversation is None:
            return
        live = conversation.live
        await self.conversations.delete(key, conversation.record.id)
        if live is not None:
            with trio.move_on_after(self.config.sessions.interrupt_grace + _EXIT_WAIT):
                await live.ended.wait()
            if live.files is not None:
                await self.runtime.blocking(self.session_files.schedule, live.files, 0.0)
                await self.runtime.blocking(self.session_files.sweep, time.time())

    async def prepare(
        self, chat: ChatRequest, key: str | None = None, response_id: str | None = None
    ) -> list[JobPlan]:
        """The plans for ``chat`` (one per answer asked for, ``n``), once it is known to be
        routable and installed (admission comes when the run opens).

        A single answer is a conversation's turn (``key``: the API key the client
        presented, whose conversations it may continue); ``response_id``: the id a
        Responses answer will have, for a later ``previous_response_id``. A key that has
        spent its budget is refused here (429 ``budget_exceeded``), before anything runs.
        """
        # The key was identified when the request was let in: the keyring's memory says it.
        await self.check_budget(self.keys.known(key))
        check_input_size(chat, self.config.limits.max_input_chars)
        route = await self.route(chat.model)
        if self.runtime.draining.is_set():
            raise ApiError(ErrorKind.SHUTTING_DOWN, "The server is shutting down.")
        chat = await fetch_images(chat, self.config.images)
        self.warmup.noted()
        if chat.n == 1 and self.pool.running and self.config.sessions.enabled:
            continuation = await self.conversations.resolve(
                key_id(key), route.provider, route.model, chat
            )
            whole = continuation.request(chat)
            check_input_size(whole, self.config.limits.max_input_chars)
            response_id = response_id if chat.store else None
            return [await self.plan(whole, route, continuation, response_id)]
        return [await self.plan(chat, route) for _ in range(chat.n)]

    async def key_error(self, given: str | None) -> ApiError | None:
        """Why a client presenting ``given`` may not in (None: it may)."""
        return await self.keys.error(given)

    async def check_budget(self, key: ApiKey | None) -> None:
        """A 429 ``budget_exceeded`` if ``key`` has spent its budget for this period."""
        store = self.usage.store
        if key is None or not key.limits.has_budget or store is None:
            return
        now = time.time()
        since, _ = period_of(key.limits.budget_period, now)
        tokens, usd = await store.spent(key.name, since)
        error = budget_error(key.limits, tokens, usd, now, key.name)
        if error is not None:
            raise error

    def limited_key(self, given: str | None) -> ApiKey | None:
        """The key ``given`` as the rate limiter counts it (its own limits): the one the
        keyring let the request in as; None on an open server (limited per address only)."""
        return self.keys.known(given)

    async def route(self, name: str) -> Route:
        """Where ``name`` goes; the CLIs' own model lists are consulted only if needed."""
        if not self.catalog.needs_discovered(name):
            with contextlib.suppress(ApiError):
                return self.catalog.resolve(name)
        clis = await self.inventory.all()  # cached
        return self.catalog.resolve(name, {n: info.models for n, info in clis.items()})

    async def limits(self, route: Route) -> TokenLimits:
        """``route``'s model's context window and output limit (see providers/limits.py)."""
        provider = PROVIDERS[route.provider]
        listing = (await self.inventory.get(route.provider)).listing  # cached
        return limits_for(
            route.model,
            configured=self.catalog.providers[route.provider].limits,
            catalog=provider.catalog_limits(listing) if listing else {},
            rules=provider.limit_rules,
        )

    async def model_entry(
        self, name: str, clis: Mapping[str, CliInfo], provider: str | None = None
    ) -> ModelEntry:
        """What ``GET /v1/models`` says of the model ``name``: a 404 ``model_not_found`` if
        no rule routes it (a name no CLI could take is "not found" here too, not a 400).

        ``provider``: the one listing it (a model may be listed by one CLI and routed to
        another by a ``model_map``); else the one it routes to.
        """
        discovered = {n: info.models for n, info in clis.items()}
        try:
            route = self.catalog.resolve(name, discovered)
        except ApiError as error:
            raise ApiError(ErrorKind.MODEL_NOT_FOUND, error.message, param="model") from None
        owner = provider or route.provider
        info = clis[owner]
        return ModelEntry(name, owner, await self.limits(route), info.installed, info.version)

    async def plan(
        self,
        chat: ChatRequest,
        route: Route,
        continuation: Continuation | None = None,
        response_id: str | None = None,
    ) -> JobPlan:
        """Everything needed to run ``chat`` on ``route``; 503 if its CLI is not installed.

        With a ``continuation``, the run is that conversation's turn: on the conversation's
        live CLI process where the CLI keeps sessions, else a run of its own with the whole
        history (and the conversation moves on either way).
        """
        provider = PROVIDERS[route.provider]
        settings = self.catalog.providers[route.provider]
        command = find_command(settings.command, self.environ)
        if command is None:
            raise ApiError(
                ErrorKind.CLI_MISSING,
                f"The {provider.name} CLI ({settings.command!r}) is not installed; "
                f"{provider.install_hint}.",
            )
        refused = self.login.refusal(route.provider)
        if refused is not None:
            raise refused  # known logged out: no process for it
        environ, settings = plan_only_environment(route.provider, self.environ, settings)
        settings = attrs.evolve(settings, command=str(command))
        listing = (await self.inventory.get(route.provider)).listing  # cached

        planned = semantics_for(chat, self.config.xml_tools, limits_output=provider.limits_output)
        for_cli = planned.request

        def build(workdir: Path) -> Any:
            invocation = provider.invocation(
                for_cli, route.model, workdir, settings, environ, listing
            )
            return attrs.evolve(invocation, provider=route.provider)

        filters: tuple[Callable[[], EventFilter], ...] = (
            *planned.filters,
            QuotaFilter,
            partial(RunWatch, self.login, route.provider),
            partial(LoginHint, provider.name, provider.login_hint),
        )
        plan = JobPlan(
            build=build,
            parser=provider.parser(for_cli, route.model),
            progress=route.progress,
            marks_are_content=planned.marks_are_content,
            filters=filters,
        )
        if continuation is None:
            return plan
        recorder = AnswerRecorder()
        plan = attrs.evolve(
            plan,
            filters=(*filters, lambda: recorder),
            conversation=continuation.conversation.record.name
            or continuation.conversation.record.id,
        )
        if not isinstance(provider, SessionProvider):
            done = partial(self.conversations.finished, continuation, recorder, response_id)
            return attrs.evolve(plan, after=done)

        def recipe(start: SessionStart) -> SessionRecipe:
            def build_session(workdir: Path) -> tuple[Invocation, LiveSession, Path | None]:
                assert isinstance(provider, SessionProvider)
                invocation, session = provider.session(
                    for_cli, route.model, workdir, settings, environ, start, listing
                )
                files = provider.session_files(workdir, invocation.env, start)
                if files is not None and workdir in files.parents:
                    files = None  # it goes with the process's own directory
                return attrs.evolve(invocation, provider=route.provider), session, files

            return build_session

        def rebuild(history: tuple[Message, ...], new: tuple[Message, ...]) -> ChatRequest:
            again = attrs.evolve(continuation, history=history, new=new).request(chat)
            return semantics_for(
                again, self.config.xml_tools, limits_output=provider.limits_output
            ).request

        shape = shape_of(route.provider, route.model, for_cli)
        spec = TurnSpec(shape, recipe, for_cli, recorder, response_id, rebuild)
        return attrs.evolve(plan, turn=partial(self.conversations.turn, continuation, spec))

    def installed(self, provider: Provider, settings: ProviderConfig) -> bool:
        return find_command(settings.command, self.environ) is not None


def _tell(channel: trio.MemorySendChannel[str], name: str) -> None:
    """Queue ``name`` without waiting (a CLI already queued, or a full queue: it will be
    probed anyway)."""
    with contextlib.suppress(trio.WouldBlock):
        channel.send_nowait(name)


def limiter_for(config: Config, redis: RedisConnection | None = None) -> Limiter:
    """The rate limiter ``[rate_limits]`` asks for, its counters in this instance's memory
    or in ``redis``, shared with the other instances."""
    counters: Counters = MemoryCounters() if redis is None else RedisCounters(redis)
    settings = config.rate_limits
    return Limiter(
        counters,
        enabled=settings.enabled,
        per_address=settings.per_address,
        per_key=settings.per_key,
    )


def check_input_size(chat: ChatRequest, limit: int) -> None:
    """A 400 ``context_length_exceeded`` if ``chat`` carries more than ``limit`` characters
    of input (``limits.max_input_chars``): said at once, rather than by a CLI after a slot,
    a process and a model call were spent on it."""
    size = chat.input_characters
    if size > limit:
        raise ApiError(
            ErrorKind.CONTEXT_TOO_LONG,
            f"The request's input is {size} characters; this server takes at most {limit} "
            "(limits.max_input_chars).",
            param="messages",
        )


def key_caller(keys: Keyring, presented: str | None) -> Caller:
    """Who presents ``presented``, for the runs registry: the key the keyring let the request
    in as (its name; an admin key sees every run), or, on a server without keys, anyone."""
    key = keys.known(presented)
    if key is None:
        return Caller(key_id(presented), "", admin=not keys.has_keys)
    return Caller(key.id, key.name, admin=key.admin)


def ledger_for(config: Config, kind: str = "runs") -> Ledger:
    """The ledger of CLI runs, of the short inventory probes (``kind="probes"``), or of the
    server's own worker processes (``kind="workers"``: the JSON decoder).

    Kept apart so that what a ledger lists is what its readers expect: requests in flight.
    """
    folder = config.state_path / "process-groups"
    return Ledger(folder if kind == "runs" else folder / kind)
