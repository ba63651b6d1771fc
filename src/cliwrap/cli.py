"""The ``cliwrap`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from functools import partial

import attrs
import trio

from . import __version__
from .access import commands as keys
from .config import Config, ConfigError, load_config
from .providers import PROVIDERS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    # Until the server takes SIGINT over, Ctrl-C simply ends the process: nothing is
    # started yet, and a KeyboardInterrupt traceback helps nobody.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    parser = argparse.ArgumentParser(
        prog="cliwrap",
        description="OpenAI- and Anthropic-compatible API server in front of AI coding CLIs.",
    )
    parser.add_argument("--version", action="version", version=f"cliwrap {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API")
    serve.add_argument(
        "--config", help="TOML config file (default: $CLIWRAP_CONFIG, else built-in defaults)"
    )
    serve.add_argument("--host", help="address to listen on (overrides server.host)")
    serve.add_argument(
        "--port", type=int, help="port to listen on; 0 picks a free one (overrides server.port)"
    )
    doctor = commands.add_parser(
        "doctor", help="check each CLI: where it is, its version, its credentials"
    )
    doctor.add_argument("--config", help="TOML config file, as for serve")
    doctor.add_argument(
        "--probe", action="store_true", help="also make one short live call through each CLI"
    )
    doctor.add_argument("--json", action="store_true", help="print JSON instead of a table")
    keys.add_parser(commands)
    doctor.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if any enabled CLI is unhealthy (default: only if none is healthy)",
    )
    args = parser.parse_args(argv)

    try:
        config = load_config(
            args.config, provider_defaults={n: p.defaults for n, p in PROVIDERS.items()}
        )
        server = config.server
        if getattr(args, "host", None) is not None:
            server = attrs.evolve(server, host=args.host)
        if getattr(args, "port", None) is not None:
            server = attrs.evolve(server, port=args.port)
        config = attrs.evolve(config, server=server)
    except (ConfigError, ValueError) as exc:
        print(f"cliwrap: {exc}", file=sys.stderr)
        return 2
    if args.command == "doctor":
        signal.signal(signal.SIGINT, signal.default_int_handler)  # trio cancels the probes
        try:
            return _doctor(config, probe=args.probe, as_json=args.json, strict=args.strict)
        except KeyboardInterrupt:
            return 130
    if args.command == "keys":
        return keys.run(config, args)
    if sys.stdin.isatty() and sys.stdout.isatty():  # never ask a program
        keys.offer_first_key(config)
    from .observability.logs import configure_logging
    from .server.serve import serve as run_server

    configure_logging(config.server.log_level, config.server.log_format)

    try:
        trio.run(run_server, config)
    except ConfigError as exc:
        print(f"cliwrap: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"cliwrap: cannot listen on {config.server.host}:{config.server.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


def _doctor(config: Config, *, probe: bool, as_json: bool, strict: bool = False) -> int:
    """Print the findings; exit 1 when no enabled CLI is healthy (installed, not logged
    out, its live probe answered), or with ``strict`` when any enabled one is not: a server
    with one healthy CLI serves, and the table names the others."""
    from . import doctor

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    findings = trio.run(partial(doctor.examine, config, probe=probe))
    print(doctor.as_json(findings) if as_json else doctor.render_table(findings))
    enabled = [f.healthy for f in findings if f.enabled]
    return 0 if enabled and (all(enabled) if strict else any(enabled)) else 1
