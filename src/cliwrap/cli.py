"""The ``cliwrap`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import attrs
import trio

from . import __version__
from .config import ConfigError, load_config
from .providers import PROVIDERS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

    try:
        config = load_config(
            args.config, provider_defaults={n: p.defaults for n, p in PROVIDERS.items()}
        )
        server = config.server
        if args.host is not None:
            server = attrs.evolve(server, host=args.host)
        if args.port is not None:
            server = attrs.evolve(server, port=args.port)
        config = attrs.evolve(config, server=server)
    except (ConfigError, ValueError) as exc:
        print(f"cliwrap: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.server.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    from .server import serve as run_server

    try:
        trio.run(run_server, config)
    except ConfigError as exc:
        print(f"cliwrap: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(
            f"cliwrap: cannot listen on {config.server.host}:{config.server.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0
