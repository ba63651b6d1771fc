"""The Quart-trio application: routes, authentication, limits and error shapes.

Handlers are thin: parse the surface's request into a ChatRequest, route the model, check
what can be refused before a response starts (auth, model, CLI installed, queue), then hand
the run to a job: inside the handler for a JSON answer, inside the response body
(:class:`~cliwrap.streaming.JobBody`) for a stream.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import os
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import attrs
from quart import Response, request, websocket
from quart_trio import QuartTrio
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from . import __version__, semantics
from .admission import Gate
from .api import anthropic_messages, openai_chat, openai_responses, openapi, params
from .config import Config, ProviderConfig
from .errors import ApiError, ErrorKind
from .fetch import fetch_images
from .inventory import Inventory
from .job import JobPlan, Runtime, open_job, open_jobs
from .process import Ledger
from .providers import PROVIDERS, Provider, find_command
from .request import ChatRequest
from .routing import Catalog, Route
from .streaming import Collector, JobBody, StreamEncoder
from .ws import serve_websocket

__all__ = ["Service", "create_app"]

log = logging.getLogger(__name__)

_OPEN_PATHS = ("/health", "/openapi.json")


@attrs.frozen
class Service:
    """Everything the routes share, built once from the config."""

    config: Config
    runtime: Runtime
    catalog: Catalog
    environ: Mapping[str, str]
    inventory: Inventory

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None) -> Service:
        enabled = {name: p for name, p in config.providers.items() if p.enabled}
        environ = dict(os.environ if environ is None else environ)
        ledger = ledger_for(config)
        return cls(
            config=config,
            runtime=Runtime(
                gate=Gate(config.limits.max_concurrent, config.limits.max_queue),
                ledger=ledger,
                deadlines=config.deadlines,
                keepalive_interval=config.server.keepalive_interval,
                shutdown_grace=config.server.shutdown_grace,
            ),
            catalog=Catalog(enabled, {name: PROVIDERS[name].prefixes for name in enabled}),
            environ=environ,
            inventory=Inventory(enabled, environ, ledger_for(config, "probes")),
        )

    async def prepare(self, chat: ChatRequest) -> list[JobPlan]:
        """The plans for ``chat`` (one per answer asked for, ``n``), once it is known to be
        routable, installed and admissible."""
        route = await self.route(chat.model)
        if self.runtime.draining.is_set():
            raise ApiError(ErrorKind.SHUTTING_DOWN, "The server is shutting down.")
        chat = await fetch_images(chat, self.config.images)
        plans = [await self.plan(chat, route) for _ in range(chat.n)]
        self.runtime.gate.check()
        return plans

    def key_error(self, given: str | None) -> ApiError | None:
        """Why a client presenting ``given`` may not in (None: it may)."""
        keys = self.config.server.api_keys
        if not keys:
            return None
        if given is None:
            return ApiError(
                ErrorKind.AUTHENTICATION,
                "Missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key'.",
            )
        # Compare against every key, always, in constant time per key.
        matches = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]
        if not any(matches):
            return ApiError(ErrorKind.AUTHENTICATION, "Incorrect API key provided.")
        return None

    async def route(self, name: str) -> Route:
        """Where ``name`` goes; the CLIs' own model lists are consulted only if needed."""
        try:
            return self.catalog.resolve(name)
        except ApiError:
            clis = await self.inventory.all()  # cached
            return self.catalog.resolve(name, {n: info.models for n, info in clis.items()})

    async def plan(self, chat: ChatRequest, route: Route) -> JobPlan:
        """Everything needed to run ``chat`` on ``route``; 503 if its CLI is not installed."""
        provider = PROVIDERS[route.provider]
        settings = self.catalog.providers[route.provider]
        command = find_command(settings.command, self.environ)
        if command is None:
            raise ApiError(
                ErrorKind.CLI_MISSING,
                f"The {provider.name} CLI ({settings.command!r}) is not installed; "
                f"{provider.install_hint}.",
            )
        settings = attrs.evolve(settings, command=str(command))
        listing = (await self.inventory.get(route.provider)).listing  # cached

        for_cli, filters = semantics.for_cli(
            chat, self.config.xml_tools, limits_output=provider.limits_output
        )

        def build(workdir: Path) -> Any:
            return provider.invocation(
                for_cli, route.model, workdir, settings, self.environ, listing
            )

        return JobPlan(
            build=build,
            parser=provider.parser(for_cli, route.model),
            progress=route.progress,
            filters=filters,
        )

    def installed(self, provider: Provider, settings: ProviderConfig) -> bool:
        return find_command(settings.command, self.environ) is not None


def ledger_for(config: Config, kind: str = "runs") -> Ledger:
    """The ledger of CLI runs, or of the short inventory probes (``kind="probes"``).

    Kept apart so that what a ledger lists is what its readers expect: requests in flight.
    """
    folder = config.state_path / "process-groups"
    return Ledger(folder if kind == "runs" else folder / kind)


def create_app(config: Config, environ: Mapping[str, str] | None = None) -> QuartTrio:
    app = QuartTrio("cliwrap", static_folder=None)
    # Our deadlines are the only timeouts: Quart's default would cut every stream at 60 s.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body_bytes
    service = Service.from_config(config, environ)
    app.extensions["cliwrap"] = service

    @app.before_serving
    async def take_inventory() -> None:
        # Versions and model lists come from the CLIs themselves; ask them early.
        app.add_background_task(service.inventory.all)

    @app.before_request
    async def authenticate() -> Response | None:
        if request.path in _OPEN_PATHS:
            return None
        error = service.key_error(_presented_key(request.headers))
        return None if error is None else _error(error)

    @app.websocket("/v1/ws")
    async def ws() -> None:
        await serve_websocket(service, websocket, _presented_key(websocket.headers))

    @app.get("/health")
    async def health() -> Response:
        runtime = service.runtime
        return _json(
            {
                "status": "draining" if runtime.draining.is_set() else "ok",
                "version": __version__,
                "running": runtime.gate.running,
                "waiting": runtime.gate.waiting,
                "providers": {
                    name: {"installed": service.installed(PROVIDERS[name], settings)}
                    for name, settings in service.catalog.providers.items()
                },
            }
        )

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return _json(openapi.document(__version__))

    @app.get("/v1/models")
    async def models() -> Response:
        clis = await service.inventory.all()
        discovered = {name: info.models for name, info in clis.items()}
        return _json(
            {
                "object": "list",
                "data": [
                    {
                        "id": model,
                        "object": "model",
                        "created": 0,
                        "owned_by": provider,
                        "provider": provider,
                        "installed": clis[provider].installed,
                        "cli_version": clis[provider].version,
                    }
                    for model, provider in service.catalog.listed(discovered)
                ],
            }
        )

    async def answer(
        chat: ChatRequest, encoder: StreamEncoder[Any], collector: Collector[Any]
    ) -> Response:
        """Run ``chat``: a stream through ``encoder``, or one body from ``collector``.

        For ``n`` > 1 they take indexed events, from all the runs at once.
        """
        chat = attrs.evolve(chat, **params.from_headers(dict(request.headers)))
        plans = await service.prepare(chat)
        runtime = service.runtime
        opened: Any = (
            partial(open_job, runtime, plans[0])
            if len(plans) == 1
            else partial(open_jobs, runtime, plans)
        )
        if chat.stream:
            return Response(
                JobBody(opened, encoder),
                content_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        async with opened() as events:
            async for event in events:
                collector.add(event)
        return _json(collector.body())

    @app.post("/v1/chat/completions")
    async def chat_completions() -> Response:
        chat = openai_chat.parse_chat_request(await _json_body())
        legacy = chat.legacy_functions
        if chat.n > 1:
            choices = openai_chat.ChoicesEncoder(chat.model, chat.n, chat.include_usage, legacy)
            return await answer(
                chat, choices, openai_chat.ChoicesCollector(chat.model, chat.n, legacy)
            )
        encoder = openai_chat.ChunkEncoder(
            chat.model, include_usage=chat.include_usage, legacy_functions=legacy
        )
        return await answer(chat, encoder, openai_chat.Collector(chat.model, legacy))

    @app.post("/v1/responses")
    async def responses() -> Response:
        chat = openai_responses.parse_responses_request(await _json_body())
        encoder = openai_responses.ResponseEncoder(chat.model, chat.system_prompt)
        collector = openai_responses.ResponseCollector(chat.model, chat.system_prompt)
        return await answer(chat, encoder, collector)

    @app.post("/v1/messages")
    async def messages() -> Response:
        chat = anthropic_messages.parse_messages_request(await _json_body())
        encoder = anthropic_messages.MessageEncoder(chat.model)
        return await answer(chat, encoder, anthropic_messages.MessageCollector(chat.model))

    @app.post("/v1/messages/count_tokens")
    async def count_tokens() -> Response:
        body = await _json_body()
        if isinstance(body, dict):
            body = {"max_tokens": 1, **body}  # count_tokens takes no max_tokens
        chat = anthropic_messages.parse_messages_request(body)
        return _json({"input_tokens": anthropic_messages.count_tokens(chat)})

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return _error(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        kinds = {
            404: ErrorKind.NOT_FOUND,
            405: ErrorKind.METHOD_NOT_ALLOWED,
            413: ErrorKind.REQUEST_TOO_LARGE,
        }
        kind = kinds.get(error.code or 500, ErrorKind.INVALID_REQUEST)
        message = {
            404: f"No route {request.method} {request.path}.",
            405: f"{request.method} is not allowed on {request.path}.",
            413: f"The request body is larger than {config.limits.max_body_bytes} bytes.",
        }.get(error.code or 500, error.description or "Bad request.")
        return _error(ApiError(kind, message))

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path, exc_info=error)
        return _error(ApiError(ErrorKind.INTERNAL, "Internal server error; see the server log."))

    return app


def _presented_key(headers: Headers) -> str | None:
    auth = headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("X-Api-Key") or None


async def _json_body() -> Any:
    data = await request.get_data(cache=False)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"The request body is not valid JSON: {exc}.",
        ) from None


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers=dict(headers or {}),
    )


def _error(error: ApiError) -> Response:
    """The error in the shape of the surface that was asked (Anthropic's under /v1/messages)."""
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    if request.path.startswith("/v1/messages"):
        return _json(anthropic_messages.error_body(error), error.status, headers)
    return _json(openai_chat.error_body(error), error.status, headers)
