"""What is installed: each provider's CLI, its version and the models it knows, cached.

Asking a CLI costs a process start (a Node CLI takes the better part of a second), so the
answers are kept for :data:`TTL` seconds and one probe per provider runs at a time; a
server starts the first round in the background so ``GET /v1/models`` rarely waits. The
probes run like any CLI run: own process group, ledger, a deadline, a private directory.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import attrs
import trio

from ..config import ProviderConfig
from ..providers import PROVIDERS, build_env, find_command
from ..providers.base import PRIVATE_HOME
from .backend import GroupProcess, PosixBackend
from .ledger import Ledger
from .processes import run_in_group

__all__ = ["TTL", "CliInfo", "Inventory", "Probe", "capture", "probe", "scratch_workdir"]

log = logging.getLogger(__name__)

TTL = 600.0
_PROBE_TIMEOUT = 15.0
_MAX_OUTPUT = 4 * 1024 * 1024


@attrs.frozen
class CliInfo:
    """One provider's CLI as found on this machine."""

    provider: str
    path: Path | None
    """Where the executable is; None: not installed."""
    version: str | None = None
    models: tuple[str, ...] = ()
    """The models the CLI itself lists (empty when it cannot tell)."""
    listing: str | None = attrs.field(default=None, repr=False)
    """What ``models_args`` printed, for the provider's invocations (None: not asked)."""
    problem: str | None = None
    """Why the version or the models could not be read, for people."""

    @property
    def installed(self) -> bool:
        return self.path is not None


async def capture(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    ledger: Ledger,
    stderr: bool = False,
) -> tuple[int, str]:
    """Run a short CLI command in its own group; its exit status and stdout (and stderr
    after it, with ``stderr``: Codex says "Not logged in" there).

    Cancelling it (a caller's deadline) stops the whole group, like any CLI run.
    """
    output = bytearray()
    errors = bytearray()

    async def drain(stream: trio.abc.ReceiveStream, into: bytearray | None) -> None:
        while chunk := await stream.receive_some(65536):
            if into is not None and len(into) < _MAX_OUTPUT:
                into.extend(chunk)

    async with trio.open_nursery() as nursery:
        process: GroupProcess = await nursery.start(
            partial(run_in_group, PosixBackend(), argv, env=env, cwd=cwd, stdin=b"", ledger=ledger)
        )
        nursery.start_soon(drain, process.stderr, errors if stderr else None)
        await drain(process.stdout, output)
        returncode = await process.wait()
    return returncode, (output + errors).decode(errors="replace")


async def probe(
    name: str, settings: ProviderConfig, environ: Mapping[str, str], ledger: Ledger
) -> CliInfo:
    """Find ``name``'s CLI and ask it for its version and, if it can tell, its models."""
    provider = PROVIDERS[name]
    path = find_command(settings.command, environ)
    if path is None:
        return CliInfo(name, None, problem=f"not installed: {provider.install_hint}")
    async with scratch_workdir(ledger, "probe") as workdir:
        with trio.move_on_after(_PROBE_TIMEOUT):
            return await _ask(name, path, settings, environ, ledger, workdir)
        return CliInfo(name, path, problem=f"no answer within {_PROBE_TIMEOUT:g} s")


@asynccontextmanager
async def scratch_workdir(ledger: Ledger, kind: str) -> AsyncIterator[Path]:
    """A private working directory for a short CLI command (a probe), in the ledger while it
    lives and removed however the command ends."""
    workdir = await trio.to_thread.run_sync(ledger.make_workdir, kind)
    try:
        yield workdir
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(ledger.remove_workdir, workdir)


async def _ask(
    name: str,
    path: Path,
    settings: ProviderConfig,
    environ: Mapping[str, str],
    ledger: Ledger,
    workdir: Path,
) -> CliInfo:
    provider = PROVIDERS[name]
    (workdir / PRIVATE_HOME).mkdir()
    env = build_env(
        environ,
        prefixes=provider.env_prefixes,
        defaults=provider.env_defaults,
        extra=settings.env,
        workdir=workdir,
        home=settings.home,
    )
    run = partial(capture, env=env, cwd=workdir, ledger=ledger)
    status, output = await run([str(path), *provider.version_args])
    if status != 0:
        return CliInfo(name, path, problem=f"`{path} --version` failed ({status})")
    version = provider.parse_version(output)
    models: tuple[str, ...] = ()
    listing = problem = None
    if provider.models_args is not None:
        status, output = await run([str(path), *provider.models_args])
        if status == 0:
            listing = output
            models = tuple(provider.parse_models(output))
        if not models:
            problem = "could not list its models; the configured ones are used"
    return CliInfo(name, path, version, models, listing, problem)


probe_cli = probe

Probe = Callable[[str], Awaitable[CliInfo]]
"""Asks one provider's CLI (by name) what it is; :func:`probe` by default, a fake in tests."""


class Inventory:
    """Cached :class:`CliInfo` for every enabled provider, refreshed without holding anyone.

    Only the very first answer for a provider is waited for. After that an expired answer
    is still returned at once, and a refresh starts in the background (stale while
    revalidate), one per provider at a time. Background refreshes run in :meth:`run`'s
    nursery (the server starts it); without it, as in ``cliwrap doctor``'s single round, an
    expired answer is refreshed in place.
    """

    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        environ: Mapping[str, str],
        ledger: Ledger,
        ttl: float = TTL,
        probe: Probe | None = None,
    ) -> None:
        self._providers = providers

        async def ask_the_cli(name: str) -> CliInfo:
            return await probe_cli(name, providers[name], environ, ledger)

        self._probe: Probe = probe or ask_the_cli
        self._ttl = ttl
        self._known: dict[str, tuple[float, CliInfo]] = {}
        self._locks = {name: trio.Lock() for name in providers}
        self._refreshing: set[str] = set()
        self._nursery: trio.Nursery | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Probe every provider in the background, then keep refreshing until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                for name in self._providers:
                    if name not in self._known:
                        self._refresh_soon(name)
                task_status.started()
                await trio.sleep_forever()
            finally:
                self._nursery = None

    async def get(self, name: str) -> CliInfo:
        cached = self._known.get(name)
        if cached is None:
            return await self._refresh(name)  # the first answer is worth waiting for
        if not self._fresh(cached):
            if self._nursery is None:
                return await self._refresh(name)
            self._refresh_soon(name)
        return cached[1]

    async def all(self) -> dict[str, CliInfo]:
        """Every provider's info, probed concurrently where not known yet."""
        found: dict[str, CliInfo] = {}

        async def one(name: str) -> None:
            found[name] = await self.get(name)

        async with trio.open_nursery() as nursery:
            for name in self._providers:
                nursery.start_soon(one, name)
        return {name: found[name] for name in self._providers}

    def _refresh_soon(self, name: str) -> None:
        assert self._nursery is not None
        if name not in self._refreshing:
            self._refreshing.add(name)
            self._nursery.start_soon(self._refresh_in_background, name)

    async def warm(self, name: str) -> CliInfo:
        """Ask the CLI again now (its files come back into the page cache: warm-up)."""
        async with self._locks[name]:
            info = await self._probe(name)
            self._known[name] = (trio.current_time(), info)
            return info

    async def _refresh_in_background(self, name: str) -> None:
        try:
            await self._refresh(name)
        except Exception:  # a broken probe keeps the answer we had; the server goes on
            log.exception("%s: could not refresh what is installed", name)
        finally:
            self._refreshing.discard(name)

    async def _refresh(self, name: str) -> CliInfo:
        async with self._locks[name]:
            cached = self._known.get(name)
            if cached is not None and self._fresh(cached):
                return cached[1]  # refreshed while we waited for the lock
            info = await self._probe(name)
            if info.problem:
                log.info("%s: %s", name, info.problem)
            self._known[name] = (trio.current_time(), info)
            return info

    def _fresh(self, cached: tuple[float, CliInfo]) -> bool:
        return trio.current_time() - cached[0] < self._ttl
