"""``cliwrap keys create|list|revoke``, and the offer of a key at the first start.

The commands work on the store the server uses (the same state directory or ``[storage]
path``), so they work while it runs: SQLite in WAL mode lets another process write while the
server reads, and the server's :class:`~cliwrap.access.keyring.Keyring` sees a new key at
its first use and a revoked one within a second.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TextIO, TypeVar

import trio

from ..config import Config
from ..storage import StorageError, Store
from .groups import GROUPS
from .keys import BUDGET_PERIODS, ApiKey, KeyExistsError, KeyLimits, KeyStore, new_key
from .sqlite import SqliteKeys

__all__ = ["add_parser", "any_stored_key", "has_stored_keys", "offer_first_key", "open_keys", "run"]

T = TypeVar("T")

FIRST_KEY = "default"
"""The name of the key the first start offers to make."""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``cliwrap keys`` and its subcommands."""
    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    keys.add_argument("--config", help="TOML config file, as for serve")
    actions = keys.add_subparsers(dest="action", required=True)
    # --config after the action too (SUPPRESS: absent there, it leaves the one before).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    create = actions.add_parser(
        "create", parents=[common], help="make a key and print its token (only once)"
    )
    create.add_argument("name", help="the key's name (usage is recorded under it)")
    create.add_argument("--admin", action="store_true", help="may see every key's usage and runs")
    create.add_argument(
        "--rpm",
        action="append",
        default=[],
        metavar="GROUP=N",
        help=f"requests per minute for an endpoint group ({', '.join(GROUPS)}); repeatable",
    )
    create.add_argument("--concurrent", type=int, default=0, help="runs at once (0: no limit)")
    create.add_argument(
        "--budget-tokens", type=int, default=0, help="input + output tokens per period"
    )
    create.add_argument("--budget-usd", type=float, default=0.0, help="dollars per period")
    create.add_argument("--budget-period", choices=BUDGET_PERIODS, default="day")
    listing = actions.add_parser(
        "list", parents=[common], help="list the keys (never their tokens)"
    )
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    revoke = actions.add_parser(
        "revoke", parents=[common], help="revoke a key (refused from then on)"
    )
    revoke.add_argument("name")


def run(config: Config, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Do what ``args`` ask; the exit status (1: the store refused, 2: bad arguments).
    ``out``: where to print (the current ``sys.stdout`` by default, looked up when called)."""
    out = out or sys.stdout
    err = sys.stderr
    try:
        if args.action == "create":
            limits = KeyLimits(
                rpm=_rpm(args.rpm),
                concurrent=args.concurrent,
                budget_tokens=args.budget_tokens,
                budget_usd=args.budget_usd,
                budget_period=args.budget_period,
            )
            token, key = new_key(args.name, time.time(), admin=args.admin, limits=limits)
    except ValueError as error:
        print(f"cliwrap keys: {error}", file=err)
        return 2
    try:
        if args.action == "create":
            trio.run(_with_keys, config, partial(_create, key))
            _print_created(out, key, token)
        elif args.action == "list":
            keys = trio.run(_with_keys, config, partial(_list, args.all))
            out.write(_as_json(keys) if args.json else _table(keys, config))
        else:
            revoked = trio.run(_with_keys, config, partial(_revoke, args.name))
            if revoked is None:
                print(f"cliwrap keys: no active key named {args.name!r}", file=err)
                return 1
            print(f"Revoked key {revoked.name!r} ({revoked.prefix}…).", file=out)
    except (KeyExistsError, StorageError) as error:
        print(f"cliwrap keys: {error}", file=err)
        return 1
    return 0


async def any_stored_key(config: Config) -> bool:
    """Whether the store holds an active key (``False`` if it cannot be read: the server
    will say why when it starts)."""
    try:
        return bool(await _with_keys(config, partial(_list, False)))
    except StorageError:
        return False


def has_stored_keys(config: Config) -> bool:
    """:func:`any_stored_key`, outside trio."""
    return trio.run(any_stored_key, config)


def ask_terminal(question: str) -> str:
    """The answer typed to ``question`` ("" at the end of input). Not ``input()``, which
    shows its prompt on stderr (the server's log) when the readline module is not loaded."""
    sys.stdout.write(question)
    sys.stdout.flush()
    return sys.stdin.readline()


def offer_first_key(
    config: Config, ask: Callable[[str], str] = ask_terminal, out: TextIO | None = None
) -> ApiKey | None:
    """At a first start on a terminal (the caller checks that), with no key configured or
    stored: offer to make one, named ``default``. The key made, or ``None``."""
    out = out or sys.stdout
    if config.server.api_keys or has_stored_keys(config):
        return None
    try:
        answer = ask(
            "No API key is set up: anyone on this machine may use the API. "
            "Create an API key? [y/N] "
        )
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print("No key made; `cliwrap keys create NAME` makes one at any time.", file=out)
        return None
    token, key = new_key(FIRST_KEY, time.time())
    try:
        trio.run(_with_keys, config, partial(_create, key))
    except (KeyExistsError, StorageError) as error:
        print(f"cliwrap: no key made: {error}", file=out)
        return None
    _print_created(out, key, token)
    host = config.server.host
    url = f"http://{f'[{host}]' if ':' in host else host}:{config.server.port}"
    body = '{"model": "sonnet", "messages": [{"role": "user", "content": "Hello"}]}'
    print(
        "Try it:\n"
        f"  curl {url}/v1/chat/completions -H {shlex.quote(f'Authorization: Bearer {token}')}"
        f" -H 'Content-Type: application/json' -d {shlex.quote(body)}\n",
        file=out,
        flush=True,
    )
    return key


def _rpm(values: list[str]) -> dict[str, int]:
    rpm = {}
    for value in values:
        group, _, count = value.partition("=")
        if not count.strip().isdigit():
            raise ValueError(f"--rpm takes GROUP=N (N a whole number), not {value!r}")
        rpm[group.strip()] = int(count)
    return rpm


def _print_created(out: TextIO, key: ApiKey, token: str) -> None:
    kind = "admin key" if key.admin else "key"
    print(
        f"Created {kind} {key.name!r}. Its token, shown only this once:\n\n{token}\n",
        file=out,
        flush=True,
    )


def _as_json(keys: list[ApiKey]) -> str:
    return json.dumps([key.as_dict() for key in keys], indent=2) + "\n"


def _table(keys: list[ApiKey], config: Config) -> str:
    rows: list[tuple[str, ...]] = [
        ("NAME", "PREFIX", "ADMIN", "CREATED (UTC)", "LIMITS", "REVOKED")
    ]
    for key in keys:
        rows.append(
            (
                key.name,
                key.prefix + "…",
                "yes" if key.admin else "no",
                _when(key.created),
                _limits(key.limits),
                "" if key.revoked is None else _when(key.revoked),
            )
        )
    if not any(row[5] for row in rows[1:]):
        rows = [row[:5] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    if not keys:
        lines = ["No stored keys."]
    if config.server.api_keys:
        count = len(config.server.api_keys)
        lines.append(
            f"And {count} admin key(s) from the config (server.api_keys), named config-1"
            + (f" to config-{count}." if count > 1 else ".")
        )
    return "\n".join(lines) + "\n"


def _limits(limits: KeyLimits) -> str:
    parts = [f"{group} {count}/min" for group, count in limits.rpm.items()]
    if limits.concurrent:
        parts.append(f"{limits.concurrent} at once")
    if limits.budget_tokens:
        parts.append(f"{limits.budget_tokens} tokens/{limits.budget_period}")
    if limits.budget_usd:
        parts.append(f"${limits.budget_usd:g}/{limits.budget_period}")
    return ", ".join(parts) or "-"


def _when(wall_time: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(wall_time))


@asynccontextmanager
async def open_keys(config: Config) -> AsyncIterator[KeyStore]:
    """The key store the server of ``config`` uses: the instances' shared Redis when
    ``storage.redis_url`` is set, else the state dir's SQLite file."""
    if config.storage.redis_url:
        from .redis_keys import RedisKeys
        from .redis_store import RedisConnection

        redis = RedisConnection(config.storage.redis_url)
        try:
            yield RedisKeys(redis)
        finally:
            redis.close()
        return
    async with await Store.open(config.storage_path) as store:
        yield SqliteKeys(store)


async def _with_keys(config: Config, work: Callable[[KeyStore], Awaitable[T]]) -> T:
    async with open_keys(config) as keys:
        return await work(keys)


async def _create(key: ApiKey, keys: KeyStore) -> None:
    await keys.create(key)


async def _list(include_revoked: bool, keys: KeyStore) -> list[ApiKey]:
    return await keys.list(include_revoked=include_revoked)


async def _revoke(name: str, keys: KeyStore) -> ApiKey | None:
    return await keys.revoke(name, time.time())
