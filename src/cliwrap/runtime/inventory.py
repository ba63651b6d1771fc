"""What is installed: each provider's CLI, its version and the models it knows, cached.

Asking a CLI costs a process start (a Node CLI takes the better part of a second), so the
answers are kept for :data:`TTL` seconds and one probe per provider runs at a time; a
server starts the first round in the background so ``GET /v1/models`` rarely waits. The
probes run like any CLI run: own process group, ledger, a deadline, a private directory.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

import attrs
import trio

from ..config import ProviderConfig
from ..providers import PROVIDERS, build_env, find_command
from ..providers.base import PRIVATE_HOME
from .ledger import WORKDIR_PREFIX, Ledger
from .processes import run_in_group

__all__ = ["TTL", "CliInfo", "Inventory", "capture"]

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
) -> tuple[int, str]:
    """Run a short CLI command in its own group; its exit status and stdout.

    Cancelling it (a caller's deadline) stops the whole group, like any CLI run.
    """
    output = bytearray()

    async def drain(stream: trio.abc.ReceiveStream, keep: bool) -> None:
        while chunk := await stream.receive_some(65536):
            if keep and len(output) < _MAX_OUTPUT:
                output.extend(chunk)

    async with trio.open_nursery() as nursery:
        process: trio.Process = await nursery.start(
            partial(run_in_group, argv, env=env, cwd=cwd, stdin=b"", ledger=ledger)
        )
        assert process.stdout is not None
        assert process.stderr is not None
        nursery.start_soon(drain, process.stderr, False)
        await drain(process.stdout, True)
        returncode = await process.wait()
    return returncode, output.decode(errors="replace")


async def probe(
    name: str, settings: ProviderConfig, environ: Mapping[str, str], ledger: Ledger
) -> CliInfo:
    """Find ``name``'s CLI and ask it for its version and, if it can tell, its models."""
    provider = PROVIDERS[name]
    path = find_command(settings.command, environ)
    if path is None:
        return CliInfo(name, None, problem=f"not installed: {provider.install_hint}")
    workdir = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX + "probe-"))
    try:
        with trio.fail_after(_PROBE_TIMEOUT):
            return await _ask(name, path, settings, environ, ledger, workdir)
    except trio.TooSlowError:
        return CliInfo(name, path, problem=f"no answer within {_PROBE_TIMEOUT:g} s")
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(partial(shutil.rmtree, workdir, ignore_errors=True))


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


class Inventory:
    """Cached :class:`CliInfo` for every enabled provider."""

    def __init__(
        self,
        providers: Mapping[str, ProviderConfig],
        environ: Mapping[str, str],
        ledger: Ledger,
        ttl: float = TTL,
    ) -> None:
        self._providers = providers
        self._environ = environ
        self._ledger = ledger
        self._ttl = ttl
        self._known: dict[str, tuple[float, CliInfo]] = {}
        self._locks = {name: trio.Lock() for name in providers}

    async def get(self, name: str) -> CliInfo:
        async with self._locks[name]:
            cached = self._known.get(name)
            if cached is not None and trio.current_time() - cached[0] < self._ttl:
                return cached[1]
            info = await probe(name, self._providers[name], self._environ, self._ledger)
            if info.problem:
                log.info("%s: %s", name, info.problem)
            self._known[name] = (trio.current_time(), info)
            return info

    async def all(self) -> dict[str, CliInfo]:
        """Every provider's info, probed concurrently where not cached."""
        found: dict[str, CliInfo] = {}

        async def one(name: str) -> None:
            found[name] = await self.get(name)

        async with trio.open_nursery() as nursery:
            for name in self._providers:
                nursery.start_soon(one, name)
        return {name: found[name] for name in self._providers}
