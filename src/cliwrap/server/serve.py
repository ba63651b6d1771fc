"""Serving: the listening socket, hypercorn on trio, signals and the drain.

On SIGTERM or SIGINT the server drains: new requests get 503, runs in flight get
``shutdown_grace`` seconds to finish, then are stopped, and every stream still open ends
properly (an error event and ``[DONE]``) before hypercorn closes the connections. A second
signal stops at once; process groups are still reaped on the way out.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
from collections.abc import Mapping

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from ..config import Config, ConfigError
from .app import create_app
from .service import ledger_for

__all__ = ["check_exposure", "serve"]

log = logging.getLogger("cliwrap")


def check_exposure(config: Config) -> None:
    """Refuse to serve an open API (no keys) beyond loopback unless explicitly allowed."""
    if config.server.api_keys or config.server.allow_open_remote:
        return
    if not _is_loopback(config.server.host):
        raise ConfigError(
            f"server.host = {config.server.host!r} is reachable from other machines but "
            "server.api_keys is empty: anyone could run your CLIs on your account. Set "
            "server.api_keys (or CLIWRAP_API_KEYS), or server.allow_open_remote = true."
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


async def serve(config: Config, environ: Mapping[str, str] | None = None) -> None:
    check_exposure(config)
    swept: list[int] = []
    for kind in ("runs", "probes"):
        ledger = ledger_for(config, kind)
        swept += await trio.to_thread.run_sync(ledger.sweep, config.deadlines.kill_grace)
    if swept:
        log.warning("killed %d CLI process group(s) left by a previous run: %s", len(swept), swept)
    app = create_app(config, environ)
    runtime = app.extensions["cliwrap"].runtime
    sock = bind(config.server.host, config.server.port)
    host, port = sock.getsockname()[:2]
    hyper = HypercornConfig()
    hyper.bind = [f"fd://{sock.detach()}"]  # hypercorn owns (and closes) the socket from here
    hyper.accesslog = None
    hyper.errorlog = logging.getLogger("hypercorn.error")
    hyper.graceful_timeout = config.server.shutdown_grace + config.deadlines.kill_grace + 5
    hyper.keep_alive_timeout = 75

    stop_requested = trio.Event()

    async def watch_signals(hard_stop: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                name = signal.Signals(signum).name
                if not stop_requested.is_set():
                    grace = config.server.shutdown_grace
                    log.info("%s: draining (runs in flight get %gs)", name, grace)
                    runtime.draining.set()
                    stop_requested.set()
                else:
                    log.warning("%s again: stopping now", name)
                    hard_stop.cancel()

    shown = f"[{host}]" if ":" in host else host
    log.info("cliwrap serving on http://%s:%d", shown, port)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_signals, nursery.cancel_scope)
        await hypercorn_serve(app, hyper, shutdown_trigger=stop_requested.wait)
        nursery.cancel_scope.cancel()
    log.info("cliwrap stopped")
