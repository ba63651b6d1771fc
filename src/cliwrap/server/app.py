"""The Quart-trio application: routes, authentication, limits and error shapes.

Handlers are thin: parse the surface's request into a ChatRequest, route the model, check
what can be refused before a response starts (auth, model, CLI installed, queue), then hand
the run to a job: inside the handler for a JSON answer, inside the response body
(:class:`~cliwrap.server.bodies.JobBody`) for a stream.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import platform
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any

import attrs
import trio
from quart import Response, g, has_request_context, has_websocket_context, request, websocket
from quart_trio import QuartTrio
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from .. import __version__, dashboard
from ..access import ApiKey
from ..access.groups import group_of
from ..access.limiter import client_address, holding_slots
from ..access.usage import usage_answer
from ..config import Config
from ..conversations import key_id
from ..core.errors import ApiError, ErrorKind
from ..core.request import ChatRequest
from ..health import budget
from ..health import fallback as fallback_rules
from ..providers import PROVIDERS
from ..runtime.backend import ProcessBackend
from ..runtime.decoder import Decoders
from ..runtime.fanout import open_jobs
from ..runtime.job import open_job
from ..runtime.runs import LiveRun, outcome_of
from ..surfaces import (
    anthropic_messages,
    json_body,
    openai_chat,
    openai_responses,
    params,
    sessions,
)
from ..surfaces import models as model_list
from . import compatibility, openapi
from .access_log import AccessLog, log_failed_run, record_of
from .bodies import Collector, ErrorReply, FallbackState, JobBody, JobConnection, StreamEncoder
from .cors import Cors
from .early_responses import FinishRequestBodies
from .live_requests import listing, run_view, tracked
from .service import Service
from .websocket_sessions import Tracking, serve_websocket

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_OPEN_PATHS = ("/health", "/healthz/deep", "/openapi.json", "/version", "/")
_SURFACES = {
    "/v1/chat/completions": "chat_completions",
    "/v1/responses": "responses",
    "/v1/messages": "messages",
}


def create_app(
    config: Config,
    environ: Mapping[str, str] | None = None,
    backend: ProcessBackend | None = None,
) -> QuartTrio:
    app = QuartTrio("cliwrap", static_folder=None)
    # Streams send their status line once the run has committed to an answer (bodies.py).
    app.asgi_http_class = JobConnection
    # Our deadlines are the only timeouts: Quart's default would cut every stream at 60 s.
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["MAX_CONTENT_LENGTH"] = config.limits.max_body_bytes
    service = Service.from_config(config, environ, backend)
    app.extensions["cliwrap"] = service
    # Middleware wraps the ASGI callable (Quart's seam for it; typed as a method). Inside:
    # a 401, 404, 405 or 413 comes before the body is read: keep its connection usable.
    # Then CORS (preflights answered before authentication, the headers on every answer).
    # Outside: one access-log line per request, when its response has really ended.
    app.asgi_app = AccessLog(  # type: ignore[method-assign,assignment]
        Cors.wrapping(FinishRequestBodies(app.asgi_app), config.server.cors_origins),
        enabled=config.server.access_log,
    )

    @app.before_request
    async def authenticate() -> Response | None:
        given = _presented_key(request.headers)
        key: ApiKey | None = None
        if not (request.path in _OPEN_PATHS or request.path.startswith(dashboard.PREFIX)):
            # (the dashboard's shell holds no data: its calls carry the key)
            try:
                key = g.api_key = await service.keys.identify(given)
            except ApiError as error:
                return _error(error)
        group = group_of(request.method, request.path)
        address = client_address(request.scope, config.rate_limits.trusted_proxies)
        await service.limiter.check(group, address, key)
        return None

    @app.websocket("/v1/ws")
    async def ws() -> None:
        given = _presented_key(websocket.headers)
        address = client_address(websocket.scope, config.rate_limits.trusted_proxies)
        await service.limiter.check("other", address, service.limited_key(given))
        record = record_of(websocket.scope)
        tracking = Tracking(
            service.runs,
            record.request_id if record is not None else uuid.uuid4().hex,
            address or "",
        )
        await serve_websocket(
            service,
            websocket,
            given,
            config.limits.max_body_bytes,
            tracking,
            address=address,
        )

    @app.get("/health")
    async def health() -> Response:
        runtime = service.runtime
        return _json(
            {
                "status": "draining" if runtime.draining.is_set() else "ok",
                "version": __version__,
                "running": runtime.gate.running,
                "waiting": runtime.gate.waiting,
                # So that a page (the dashboard) asks for a key before it calls anything.
                "key_required": await service.keys.any(),
                "providers": {
                    name: {"installed": service.installed(PROVIDERS[name], settings)}
                    for name, settings in service.catalog.providers.items()
                },
            }
        )

    @app.get("/version")
    async def version() -> Response:
        clis = await service.inventory.all()  # cached
        return _json(
            {
                "version": __version__,
                "python": platform.python_version(),
                "clis": {name: info.version for name, info in clis.items()},
            }
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        # In a worker thread: a scrape of many series takes milliseconds (docs/benchmarks.md).
        expose = partial(service.metrics.exposition, request.headers.get("Accept", ""))
        body, content_type = await service.runtime.blocking(expose)
        return Response(body, content_type=content_type)

    @app.get("/v1/auth/status")
    async def auth_status() -> Response:
        clis = await service.inventory.all()  # cached
        providers = {
            name: {
                "installed": clis[name].installed,
                "version": clis[name].version,
                **service.login.get(name).as_json(),
            }
            for name in service.catalog.providers
        }
        return _json(
            {
                "providers": providers,
                # What the predecessors' /v1/auth/status said, for clients that read it.
                "authenticated": any(p["healthy"] for p in providers.values()),
                "server_info": {
                    "api_key_required": await service.keys.any(),
                    "version": __version__,
                },
            }
        )

    @app.get("/healthz/deep")
    async def health_deep() -> Response:
        """A real probe: every enabled CLI's login, now; 200 if one is installed and in."""
        clis = await service.inventory.all()
        states = await service.probe_logins()
        providers = {
            name: {
                "installed": clis[name].installed,
                "healthy": states[name].healthy,
                "method": states[name].method,
            }
            for name in service.catalog.providers
        }
        ready = any(p["installed"] and p["healthy"] for p in providers.values())
        status = "ok" if ready and not service.runtime.draining.is_set() else "unavailable"
        return _json(
            {"status": status, "version": __version__, "providers": providers},
            status=200 if status == "ok" else 503,
        )

    @app.get("/openapi.json")
    async def openapi_json() -> Response:
        return _json(openapi.document(__version__))

    @app.get("/v1/models")
    async def models() -> Response:
        clis = await service.inventory.all()
        discovered = {name: info.models for name, info in clis.items()}
        listed = service.catalog.listed(discovered, progress=config.server.list_progress_models)
        entries = [await service.model_entry(name, clis, provider) for name, provider in listed]
        if _anthropic_client():
            return _json(model_list.anthropic_page(entries, request.args))
        return _json(model_list.openai_list(entries))

    @app.get("/v1/models/<path:model_id>")
    async def model(model_id: str) -> Response:
        clis = await service.inventory.all()
        entry = await service.model_entry(model_id, clis)
        if _anthropic_client():
            return _json(model_list.anthropic_model(entry))
        return _json(model_list.openai_model(entry))

    async def answer(
        chat: ChatRequest,
        encoder: Callable[[str], StreamEncoder[Any]],
        collector: Callable[[str], Collector[Any]],
        response_id: str | None = None,
    ) -> Response:
        """Run ``chat``: a stream through an encoder, or one body from a collector (each
        made for the model that answers: a ``fallback_model`` may, see cliwrap.health).

        For ``n`` > 1 they take indexed events, from all the runs at once.
        """
        chat = attrs.evolve(chat, **params.from_headers(dict(request.headers)))
        chat = budget.capped(
            chat, config.budgets, {k.lower(): v for k, v in request.headers.items()}
        )
        named = request.headers.get("X-Session-Id")
        if chat.session is None and named:
            chat = attrs.evolve(chat, session=params.session_name(named, "X-Session-Id"))
        record = record_of(request.scope)
        route = await service.route(chat.model)
        if record is not None:  # for the access log
            record.model = chat.model
            record.provider = route.provider
        fallbacks = fallback_rules.chain(route.provider, service.catalog.providers)
        key = _presented_key(request.headers)
        # Read now: a stream's run is admitted outside the request's context.
        run_id = record.request_id if record is not None else uuid.uuid4().hex
        caller = service.runs.caller(key)
        admit = partial(
            service.runs.admit,
            run_id,
            _SURFACES.get(request.path, "chat_completions"),
            caller,
            client=request.remote_addr or "",
            stream=chat.stream,
        )

        async def attempt(model: str) -> tuple[Any, dict[str, str]]:
            """The run for ``model`` (its opener: the key's slots held, the run in the
            registry) and its response headers."""
            asked = chat if model == chat.model else attrs.evolve(chat, model=model)
            provider = (await service.route(model)).provider
            plans = await service.prepare(asked, key, response_id)
            headers = (
                {"X-Session-Id": plans[0].conversation} if plans[0].conversation is not None else {}
            )
            if model != chat.model:
                headers[fallback_rules.HEADER] = chat.model
            if record is not None:
                log_failure = partial(log_failed_run, record.request_id)
                plans = [attrs.evolve(plan, on_failure=log_failure) for plan in plans]

            def open_tracked(live: LiveRun) -> Any:
                live_plans = [attrs.evolve(plan, live=live) for plan in plans]
                if len(live_plans) == 1:
                    return open_job(service.runtime, live_plans[0])
                return open_jobs(service.runtime, live_plans)

            def admitted() -> LiveRun:
                live = admit(provider=provider, model=model)
                if model != chat.model:
                    live.fallback_from = chat.model
                return live

            opened = partial(
                holding_slots,
                service.limiter,
                service.limited_key(key),
                len(plans),
                partial(tracked, admitted, open_tracked),
            )
            return opened, headers

        def settled(failure: ApiError | None) -> None:
            if record is not None:
                record.outcome = outcome_of(failure)

        models = [chat.model, *fallbacks]
        if chat.stream:
            anthropic = _speaks_anthropic(request.path)
            try:
                opened, headers = await _first_attempt(attempt, models)
            except ApiError as refused:
                admit(provider=route.provider, model=chat.model).failed(refused)  # counted too
                raise

            async def next_attempt(failure: ApiError, tried: str) -> Any:
                later = models[models.index(tried) + 1 :]
                if not later or not fallback_rules.falls_back(failure):
                    return None
                log.info("%s failed (%s): trying %s", tried, failure.kind.name, later[0])
                opened, headers = await _first_attempt(attempt, later)
                return opened, encoder(later[0]), headers, later[0]

            body = JobBody(
                opened, encoder(chat.model), partial(_error_reply, anthropic=anthropic), settled
            )
            body.fallback = FallbackState(chat.model, next_attempt)
            return Response(
                body,
                content_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no", **headers},
            )
        failure: ApiError | None = None
        for index, model in enumerate(models):
            last = index == len(models) - 1
            try:
                opened, headers = await attempt(model)
            except ApiError as refused:
                if last or not fallback_rules.falls_back(refused):
                    admit(provider=route.provider, model=chat.model).failed(refused)  # counted
                    raise
                continue
            gathered = collector(model)
            async with opened() as run:
                async for update in run.updates:
                    gathered.add(update)
                gathered.add(run.outcome)
            failure = run.failure
            if failure is None or last or not fallback_rules.falls_back(failure):
                break
            log.info("%s failed (%s): trying %s", model, failure.kind.name, models[index + 1])
        settled(failure)
        return _json(gathered.body(), headers=headers)

    @app.get("/v1/requests")
    async def requests_list() -> Response:
        caller = service.runs.caller(_presented_key(request.headers))
        return _json(listing(service.runs, caller, service.runtime.gate.waiting))

    @app.delete("/v1/requests/<path:run_id>")
    async def request_cancel(run_id: str) -> Response:
        caller = service.runs.caller(_presented_key(request.headers))
        cancelled = service.runs.cancel(run_id, caller)
        if not cancelled:
            raise ApiError(ErrorKind.NOT_FOUND, f"No live request {run_id!r}.", param="id")
        return _json(run_view(cancelled[0], service.runs.clock()))

    @app.get("/")
    async def dashboard_page() -> Response:
        return _asset("index.html")

    @app.get(f"{dashboard.PREFIX}<name>")
    async def dashboard_asset(name: str) -> Response:
        return _asset(name)

    @app.get("/v1/sessions")
    async def sessions_list() -> Response:
        key = key_id(_presented_key(request.headers))
        limit = _limit(request.args.get("limit"))
        before = _number(request.args.get("before"), "before")
        records = await service.conversations.listed(key, limit + 1, before)
        live = {r.id: service.conversations.is_live(key, r.id) for r in records}
        return _json(sessions.session_list(records[:limit], live, len(records) > limit))

    @app.get("/v1/sessions/stats")
    async def sessions_stats() -> Response:
        key = key_id(_presented_key(request.headers))
        return _json(await service.conversations.stats(key))

    @app.get("/v1/sessions/<path:session_id>")
    async def session_get(session_id: str) -> Response:
        key = key_id(_presented_key(request.headers))
        found = await service.conversations.named(key, session_id)
        if found is None:
            raise _no_session(session_id)
        live = service.conversations.is_live(key, found.record.id)
        return _json(sessions.session_object(found.record, live))

    @app.delete("/v1/sessions/<path:session_id>")
    async def session_delete(session_id: str) -> Response:
        key = key_id(_presented_key(request.headers))
        found = await service.conversations.named(key, session_id)
        if found is None:
            raise _no_session(session_id)
        await service.forget(key, found.record.id)
        return _json(sessions.deleted(session_id))

    @app.get("/v1/usage")
    async def usage() -> Response:
        return _json(await usage_answer(service.usage.store, _api_key(), request.args, time.time()))

    @app.get("/v1/warmup/stats")
    async def warmup_stats() -> Response:
        return _json(service.warmup.stats())

    @app.post("/v1/chat/completions")
    async def chat_completions() -> Response:
        chat = openai_chat.parse_chat_request(await _json_body(service.runtime.decoders))
        legacy = chat.legacy_functions
        if chat.n > 1:
            return await answer(
                chat,
                lambda model: openai_chat.ChoicesEncoder(model, chat.n, chat.include_usage, legacy),
                lambda model: openai_chat.ChoicesCollector(model, chat.n, legacy),
            )
        return await answer(
            chat,
            lambda model: openai_chat.ChunkEncoder(
                model, include_usage=chat.include_usage, legacy_functions=legacy
            ),
            lambda model: openai_chat.CompletionCollector(model, legacy),
        )

    @app.post("/v1/responses")
    async def responses() -> Response:
        body = await _json_body(service.runtime.decoders)
        chat = openai_responses.parse_responses_request(body)
        _log_left_out("/v1/responses", "hosted", openai_responses.hosted_tools(body))
        # The response echoes the client's own instructions, not the system prompt built
        # from its developer messages (Codex sends 20 kB of them, and no instructions).
        instructions = body.get("instructions")
        response_id = openai_responses.new_response_id()
        return await answer(
            chat,
            lambda model: openai_responses.ResponseEncoder(
                model, instructions, response_id=response_id
            ),
            lambda model: openai_responses.ResponseCollector(
                model, instructions=instructions, response_id=response_id
            ),
            response_id,
        )

    @app.post("/v1/messages")
    async def messages() -> Response:
        body = await _json_body(service.runtime.decoders)
        chat = anthropic_messages.parse_messages_request(body)
        _log_left_out("/v1/messages", "server", anthropic_messages.server_tools(body))
        tokens = anthropic_messages.count_tokens(chat)
        return await answer(
            chat,
            lambda model: anthropic_messages.MessageEncoder(model, tokens),
            anthropic_messages.MessageCollector,
        )

    @app.post("/v1/messages/count_tokens")
    async def count_tokens() -> Response:
        body = await _json_body(service.runtime.decoders)
        if isinstance(body, dict):
            body = {"max_tokens": 1, **body}  # count_tokens takes no max_tokens
        chat = anthropic_messages.parse_messages_request(body)
        return _json({"input_tokens": anthropic_messages.count_tokens(chat)})

    @app.post("/v1/compatibility")
    async def compatibility_check() -> Response:
        if (request.content_length or 0) > compatibility.MAX_BODY_BYTES:
            raise ApiError(
                ErrorKind.REQUEST_TOO_LARGE,
                f"A compatibility question takes at most {compatibility.MAX_BODY_BYTES} bytes.",
            )
        body = await _json_body(service.runtime.decoders)
        surface = request.args.get("surface", "chat")
        answer = functools.partial(
            compatibility.report,
            body,
            dict(request.headers),
            surface,
            service.catalog,
            config.xml_tools,
        )
        return _json(await service.runtime.blocking(answer))  # a parse per parameter

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
        method, path = _asked()
        message = {
            404: f"No route {method} {path}.",
            405: f"{method} is not allowed on {path}.",
            413: f"The request body is larger than {config.limits.max_body_bytes} bytes.",
        }.get(error.code or 500, error.description or "Bad request.")
        if error.code == 400 and path == "/v1/ws":
            message = "GET /v1/ws is a WebSocket: send it as an upgrade (Upgrade: websocket)."
        headers = {}
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return _error(ApiError(kind, message), headers)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", *_asked(), exc_info=error)
        return _error(ApiError(ErrorKind.INTERNAL, "Internal server error; see the server log."))

    return app


def _asset(name: str) -> Response:
    """One of the dashboard's files (404 for anything else)."""
    found = dashboard.asset(name)
    if found is None:
        raise ApiError(ErrorKind.NOT_FOUND, f"No dashboard file {name!r}.")
    data, content_type = found
    return Response(data, content_type=content_type, headers={"Cache-Control": "no-cache"})


async def _first_attempt(
    attempt: Callable[[str], Awaitable[tuple[Any, dict[str, str]]]], models: list[str]
) -> tuple[Any, dict[str, str]]:
    """The first of ``models`` that can be prepared, falling back past those refused before
    they run (a logged-out or out-of-quota CLI: ``health.falls_back``)."""
    for index, model in enumerate(models):
        try:
            return await attempt(model)
        except ApiError as refused:
            if index == len(models) - 1 or not fallback_rules.falls_back(refused):
                raise
    raise AssertionError("no model to try")  # pragma: no cover


def _no_session(session_id: str) -> ApiError:
    return ApiError(ErrorKind.NOT_FOUND, f"No session {session_id!r}.", param="session_id")


def _limit(value: str | None) -> int:
    """A list's ``limit`` (1 to 1000, default 100), or a 400."""
    if value is None:
        return 100
    if not value.isdigit() or not 1 <= int(value) <= 1000:
        raise ApiError(
            ErrorKind.INVALID_REQUEST, "'limit' must be a whole number from 1 to 1000.", "limit"
        )
    return int(value)


def _number(value: str | None, param: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise ApiError(ErrorKind.INVALID_REQUEST, f"'{param}' must be a number.", param)
    return number


def _api_key() -> ApiKey | None:
    """The key the request presented (``None`` on a server without keys), as
    authentication found it."""
    key: ApiKey | None = g.get("api_key")
    return key


def _presented_key(headers: Headers) -> str | None:
    auth = headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("X-Api-Key") or None


_DECODE_IN_THREAD = 256 * 1024
"""Bodies larger than this (in bytes) are decoded in a worker thread: a 30 MB body takes
a good part of a second to decode, and the event loop serves everyone else meanwhile."""
_DECODE_IN_PROCESS = 4 * 1024 * 1024
"""Bodies larger than this go to the server's decoder process (see runtime/decoder.py)."""


async def _json_body(decoders: Decoders | None = None) -> Any:
    """The request's JSON body, checked. A large one is decoded off the event loop: in the
    server's decoder process when it is huge (a thread would still hold the GIL for the whole
    decode), else in a worker thread."""
    data = await request.get_data(cache=False)
    if len(data) > _DECODE_IN_PROCESS and decoders is not None:
        reply = await decoders.reply("body", data if isinstance(data, bytes) else data.encode())
        if reply is not None and reply[0] == "ok":
            return reply[1]
        if reply is not None and reply[0] == "error":
            _, kind, message, param = reply
            raise ApiError(ErrorKind[kind], message, param=param)
    if len(data) > _DECODE_IN_THREAD:
        return await trio.to_thread.run_sync(json_body.decode, data)
    return json_body.decode(data)


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False),
        status=status,
        content_type="application/json",
        headers=dict(headers or {}),
    )


def _asked() -> tuple[str, str]:
    """The method and path being answered; empty outside a request (or WebSocket) context,
    where an error handler can run too."""
    if has_request_context():
        return request.method, request.path
    if has_websocket_context():
        return "GET", websocket.path
    return "", ""


def _error(error: ApiError, headers: Mapping[str, str] | None = None) -> Response:
    """The error in the shape of the surface that was asked (Anthropic's under /v1/messages
    and for Anthropic clients of /v1/models, OpenAI's everywhere else and outside a request)."""
    path = _asked()[1]
    anthropic = _speaks_anthropic(path) or (path.startswith("/v1/models") and _anthropic_client())
    status, own, body = _error_reply(error, anthropic=anthropic)
    return Response(
        body, status=status, content_type="application/json", headers={**(headers or {}), **own}
    )


def _speaks_anthropic(path: str) -> bool:
    return path.startswith("/v1/messages")


def _anthropic_client() -> bool:
    """Whether the request comes from an Anthropic client, for the routes both kinds of
    client share (/v1/models): Anthropic's SDKs and Claude Code send ``anthropic-version``
    with every request, OpenAI's never do. (``x-api-key`` tells nothing: cliwrap takes it
    from anyone.)"""
    return has_request_context() and "anthropic-version" in request.headers


def _log_left_out(route: str, kind: str, types: list[str]) -> None:
    """Say in the log which of the API's own tools a request offered and the model did not
    get: the vendor runs those, and cliwrap runs every CLI with its own tools off."""
    if types:
        log.info("%s: %s tools not offered to the model: %s", route, kind, ", ".join(types))


def _error_reply(error: ApiError, *, anthropic: bool) -> ErrorReply:
    """``error`` as a whole response in a surface's shape: status, headers, body."""
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(openai_chat.retry_after_seconds(error.retry_after))
    shape = anthropic_messages.error_body if anthropic else openai_chat.error_body
    return error.status, headers, json.dumps(shape(error), ensure_ascii=False).encode()
