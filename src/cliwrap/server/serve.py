"""Serving: the listening socket, the ledger sweep, hypercorn on trio, signals and the drain.

Startup binds the port first: a server that cannot listen (another one has the port) stops
there, before it touches the ledger. Then it ends what dead servers left in the ledger
(never a live server's runs), starts the inventory and serves.

SIGTERM and SIGINT are ours from the start of :func:`serve`: a signal during startup stops
it quietly; once serving, the server drains: new requests get 503, runs in flight get
``shutdown_grace`` seconds to finish, then are stopped, and every stream still open ends
properly (an error event and ``[DONE]``) before hypercorn closes the connections. A second
signal stops at once; process groups are still reaped on the way out.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
from collections.abc import AsyncIterator, Mapping

import attrs
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from ..access.commands import any_stored_key
from ..config import Config, ConfigError
from .app import create_app
from .service import Service, ledger_for

__all__ = ["bind", "check_exposure", "hypercorn_config", "serve"]

log = logging.getLogger("cliwrap")


def check_exposure(config: Config, *, stored_keys: bool = False) -> None:
    """Refuse to serve an open API (no keys configured nor ``stored_keys``) beyond loopback
    unless explicitly allowed."""
    if config.server.api_keys or stored_keys or config.server.allow_open_remote:
        return
    if not _is_loopback(config.server.host):
        raise ConfigError(
            f"server.host = {config.server.host!r} is reachable from other machines but "
            "server.api_keys is empty: anyone could run your CLIs on your account. Set "
            "server.api_keys (or CLIWRAP_API_KEYS), create a key (cliwrap keys create NAME), "
            "or set server.allow_open_remote = true."
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def hypercorn_config(config: Config, fd: int) -> HypercornConfig:
    """hypercorn's settings for serving on the listening socket ``fd``."""
    hyper = HypercornConfig()
    hyper.bind = [f"fd://{fd}"]
    hyper.backlog = config.server.backlog  # hypercorn listens again, with its own default
    hyper.accesslog = None  # ours is cliwrap.access (see access_log.py)
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.graceful_timeout = config.server.shutdown_grace + config.deadlines.kill_grace + 5
    hyper.keep_alive_timeout = 75
    # WebSocket frames: up to twice the body limit reach the session, which answers any over
    # the limit with an error frame and goes on; beyond that hypercorn closes with 1009
    # (message too big). Its own default (16 MiB) knows nothing of our limit.
    hyper.websocket_max_message_size = 2 * config.limits.max_body_bytes
    return hyper


@attrs.define
class _Stopper:
    """What a signal ends: startup while it runs, then the serving (drain, then hard stop)."""

    config: Config
    requested: trio.Event = attrs.field(factory=trio.Event)
    startup: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    service: Service | None = None

    async def watch(self, signals: AsyncIterator[int], everything: trio.CancelScope) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            if self.requested.is_set():
                log.warning("%s again: stopping now", name)
                everything.cancel()
            elif self.service is None:
                log.info("%s during startup: stopping", name)
                self.requested.set()
                self.startup.cancel()
            else:
                log.info(
                    "%s: draining (runs in flight get %gs)", name, self.config.server.shutdown_grace
                )
                assert self.service is not None
                self.service.runtime.draining.set()
                self.requested.set()


async def serve(config: Config, environ: Mapping[str, str] | None = None) -> None:
    # The store is read only where it matters: loopback is served open anyway.
    stored = not _is_loopback(config.server.host) and await any_stored_key(config)
    check_exposure(config, stored_keys=stored)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        sock = bind(config.server.host, config.server.port, config.server.backlog)
        try:
            app = create_app(config, environ)
            stopper = _Stopper(config)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(stopper.watch, signals, nursery.cancel_scope)
                with stopper.startup:
                    await _sweep(config)
                    service: Service = app.extensions["cliwrap"]
                    await nursery.start(service.inventory.run)
                    await nursery.start(service.run_sessions)
                    if service.runtime.decoders is not None:
                        await nursery.start(service.runtime.decoders.run)
                    stopper.service = service
                if not stopper.requested.is_set():
                    host, port = sock.getsockname()[:2]
                    shown = f"[{host}]" if ":" in host else host
                    hyper = hypercorn_config(config, sock.detach())  # hypercorn closes it
                    log.info("cliwrap serving on http://%s:%d", shown, port)
                    await hypercorn_serve(app, hyper, shutdown_trigger=stopper.requested.wait)
                nursery.cancel_scope.cancel()
        finally:
            sock.close()  # a no-op once detached
    log.info("cliwrap stopped")


async def _sweep(config: Config) -> None:
    """End what servers that are gone left in the ledgers (ours are empty yet)."""
    swept: list[int] = []
    for kind in ("runs", "probes", "workers"):
        ledger = ledger_for(config, kind)
        swept += await trio.to_thread.run_sync(ledger.sweep, config.deadlines.kill_grace)
    if swept:
        log.warning(
            "killed %d CLI process group(s) left by a stopped server: %s", len(swept), swept
        )
