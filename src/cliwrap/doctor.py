"""``cliwrap doctor``: is each CLI there, which version, is it logged in, does it answer?

It checks with the server's own machinery (the same lookup, environment and supervision a
request gets, and the server's login probe: cliwrap.health), so what the doctor says is what
a request would meet. A CLI without credentials is unhealthy.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import attrs
import trio

from .config import Config, ProviderConfig
from .core.errors import ApiError
from .core.events import TextDelta
from .core.request import ChatRequest, Message
from .providers import PROVIDERS
from .providers.routing import Route
from .runtime.inventory import CliInfo
from .runtime.job import open_job
from .server.service import Service

__all__ = ["Finding", "examine", "render_table"]

PROBE_PROMPT = "Reply with the single word: ok"


@attrs.frozen
class Finding:
    """What the doctor found for one provider (secrets never included)."""

    provider: str
    enabled: bool
    path: str | None
    version: str | None
    models: tuple[str, ...]
    auth: str
    problem: str | None = None
    probe: str | None = None
    """With ``--probe``: "ok (…)" or what went wrong."""
    logged_in: bool | None = None
    """The login probe's verdict (None: the CLI cannot tell without a model call)."""
    login: str = ""
    """How it is logged in, or why not (the probe's detail; never a secret)."""

    @property
    def healthy(self) -> bool:
        return (
            self.path is not None
            and self.logged_in is not False
            and (self.probe is None or self.probe.startswith("ok"))
        )


def auth_hint(name: str, settings: ProviderConfig, environ: Mapping[str, str]) -> str:
    env = {**environ, **settings.env}
    # A private home has no credential files: the CLI sees only the environment.
    home = Path(env.get("HOME", "~")).expanduser() if settings.home == "user" else None
    hint = PROVIDERS[name].auth_hint(env, home if home else Path("/nonexistent"))
    return hint if settings.home == "user" else f"{hint} (private home)"


async def examine(
    config: Config, *, probe: bool = False, environ: Mapping[str, str] | None = None
) -> list[Finding]:
    """A finding per configured provider; with ``probe``, one short live call each."""
    environ = dict(os.environ if environ is None else environ)
    service = Service.from_config(config, environ)
    clis = await service.inventory.all()
    logins = await service.probe_logins()
    findings: dict[str, Finding] = {}

    async def one(name: str, settings: ProviderConfig) -> None:
        info = clis.get(name) or CliInfo(name, None, problem="disabled in the config")
        finding = Finding(
            provider=name,
            enabled=settings.enabled,
            path=str(info.path) if info.path else None,
            version=info.version,
            models=info.models or settings.models,
            auth=auth_hint(name, settings, environ),
            problem=info.problem,
        )
        if name in logins:
            state = logins[name]
            finding = attrs.evolve(finding, logged_in=state.healthy, login=state.detail)
        if probe and settings.enabled and info.installed:
            finding = attrs.evolve(finding, probe=await _probe(service, name, settings))
        findings[name] = finding

    async with trio.open_nursery() as nursery:
        for name, settings in config.providers.items():
            nursery.start_soon(one, name, settings)
    return [findings[name] for name in config.providers]


async def _probe(service: Service, name: str, settings: ProviderConfig) -> str:
    model = settings.default_model
    chat = ChatRequest(model=f"{name}/{model}", messages=(Message("user", PROBE_PROMPT),))
    try:
        plan = await service.plan(chat, Route(name, model))
    except ApiError as error:
        return f"failed: {error.status} {error.message}"
    started = trio.current_time()
    text = []
    try:
        async with open_job(service.runtime, plan) as run:
            async for update in run.updates:
                if isinstance(update, TextDelta):
                    text.append(update.text)
    except ApiError as error:  # refused: the queue is full
        return f"failed: {error.status} {error.message}"
    if run.failure is not None:
        return f"failed: {run.failure.status} {run.failure.message}"
    seconds = trio.current_time() - started
    answer = "".join(text).strip()
    return f"ok ({model}, {seconds:.1f} s): {answer[:40]!r}"


def render_table(findings: list[Finding]) -> str:
    """A plain-text table for people, one provider per row, details underneath."""
    header = ("PROVIDER", "CLI", "VERSION", "MODELS", "AUTH", "LOGIN")
    rows = [
        (
            f.provider + ("" if f.enabled else " (disabled)"),
            f.path or "not installed",
            f.version or "-",
            str(len(f.models)),
            f.auth,
            {True: "yes", False: "NO", None: "unknown"}[f.logged_in] if f.enabled else "-",
        )
        for f in findings
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in (header, *rows)
    ]
    notes = [
        f"{f.provider}: {text}"
        for f in findings
        for text in (
            f.problem,
            f"login: {f.login}" if f.login and f.logged_in is not True else None,
            f"probe {f.probe}" if f.probe else None,
        )
        if text
    ]
    return "\n".join([line.rstrip() for line in lines] + (["", *notes] if notes else []))


def as_json(findings: list[Finding]) -> str:
    return json.dumps([{**attrs.asdict(f), "healthy": f.healthy} for f in findings], indent=2)
