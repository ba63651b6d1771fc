"""``POST /v1/compatibility``: which of a request's parameters each CLI honours, ignores or
rejects, without running anything.

Derived, never listed by hand: the body goes through the surface's own parser (a parameter
it refuses is *rejected*, with the parser's own message), then each provider's own
invocation builder and parser, and cliwrap's own answer filters, once with the whole request
and once without each parameter. A parameter that changes nothing the CLI is given (its
argv, environment, stdin, files, or what its dialogue will send) nor how cliwrap filters
the answer is *ignored* by that CLI; one that does is *honoured* (and *applied by cliwrap*
when only the filters changed: stop sequences, an output limit the CLI cannot take). Fields
that decide how the answer is delivered (``stream``, ``n``, ``stream_options``) are
honoured by cliwrap whatever the CLI. So the answer stays true as the parsers and the
providers change.

Sans I/O: invocations are built for a working directory that is never created.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..config import ProviderConfig, XmlToolsConfig
from ..core.errors import ApiError, ErrorKind
from ..core.request import ChatRequest
from ..providers import PROVIDERS
from ..providers.routing import Catalog, Route
from ..semantics.chain import semantics_for
from ..surfaces import anthropic_messages, openai_chat, openai_responses, params

__all__ = ["DELIVERY_FIELDS", "MAX_BODY_BYTES", "SURFACES", "report"]

Parser = Callable[[Any], ChatRequest]

SURFACES: Mapping[str, tuple[Parser, Mapping[str, Any]]] = {
    "chat": (openai_chat.parse_chat_request, {"messages": [{"role": "user", "content": "?"}]}),
    "responses": (openai_responses.parse_responses_request, {"input": "?"}),
    "messages": (
        anthropic_messages.parse_messages_request,
        {"messages": [{"role": "user", "content": "?"}], "max_tokens": 1},
    ),
}
"""Each surface's parser, and what its requests need that a question about parameters may
leave out (it is filled in and not reported on)."""

DELIVERY_FIELDS = frozenset({"model", "stream", "include_usage", "n", "legacy_functions"})
"""Fields of the canonical request that decide how the answer reaches the client, not what
the CLI is given: cliwrap honours them whatever the CLI."""

_WORKDIR = Path("/nonexistent/cliwrap-compatibility")
MAX_BODY_BYTES = 256 * 1024
"""A question about parameters needs no long conversation; each parameter costs a parse of
the whole body, so the body and the number of parameters are bounded."""
_MAX_PARAMETERS = 64


def report(
    body: Any,
    headers: Mapping[str, str],
    surface: str,
    catalog: Catalog,
    xml: XmlToolsConfig,
) -> dict[str, Any]:
    """The compatibility of ``body`` (and the parameter ``headers`` it came with), asked on
    ``surface``, with every enabled CLI; a 400 if the question itself cannot be read."""
    if surface not in SURFACES:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"'surface' must be one of {', '.join(SURFACES)}.",
            param="surface",
        )
    if not isinstance(body, dict):
        raise ApiError(ErrorKind.INVALID_REQUEST, "The request body must be a JSON object.")
    if len(body) > _MAX_PARAMETERS:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"Ask about at most {_MAX_PARAMETERS} parameters at once.",
        )
    parse, needed = SURFACES[surface]
    filler = {**needed, "model": next(iter(catalog.providers), "")}
    given = {name for name in params.HEADERS if _header(headers, name) is not None}
    given |= {name for name in params.HEADER_ALIASES if _header(headers, name) is not None}
    rejected: dict[str, str] = {}
    body = dict(body)
    while True:
        try:
            whole = _parsed(parse, {**filler, **body}, headers, given)
            break
        except ApiError as error:
            culprit = _culprit(error, body, given)
            if culprit is None or culprit in rejected:
                raise
            rejected[culprit] = error.message
            body.pop(culprit, None)
            given.discard(culprit)
    route: Route | None = None
    if "model" in body:
        try:
            route = catalog.resolve(body["model"])
        except ApiError as error:
            rejected["model"] = error.message
    asked = [*body, *sorted(given)]
    clis = {
        name: _verdicts(
            name,
            route.model if route and route.provider == name else settings.default_model,
            settings,
            xml,
            whole,
            {
                p: _parsed(
                    parse,
                    {**filler, **{k: v for k, v in body.items() if k != p}},
                    headers,
                    given - {p},
                )
                for p in asked
            },
        )
        for name, settings in catalog.providers.items()
    }
    return {
        "object": "compatibility",
        "surface": surface,
        "model": body.get("model"),
        "routes_to": None if route is None else {"provider": route.provider, "model": route.model},
        "parameters": asked + [p for p in rejected if p not in asked],
        "rejected": rejected,
        "clis": clis,
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _parsed(
    parse: Parser, body: dict[str, Any], headers: Mapping[str, str], given: Iterable[str]
) -> ChatRequest:
    chat = parse(body)
    kept = {name: value for name, value in headers.items() if _known_header(name, given)}
    return attrs.evolve(chat, **params.from_headers(kept))


def _known_header(name: str, given: Iterable[str]) -> bool:
    return any(name.lower() == header.lower() for header in given)


def _culprit(error: ApiError, body: Mapping[str, Any], given: set[str]) -> str | None:
    """The parameter (a top-level field or a header) an error of the parser is about: its
    ``param``, or the field its message starts with (Anthropic's ``temperature: …``)."""
    head, colon, _ = error.message.partition(":")
    param = error.param or (head if colon and " " not in head else "")
    top = param.split("[", 1)[0].split(".", 1)[0]
    if top in body:
        return top
    return next((header for header in given if header.lower() == param.lower()), None)


def _verdicts(
    name: str,
    model: str,
    settings: ProviderConfig,
    xml: XmlToolsConfig,
    whole: ChatRequest,
    without: Mapping[str, ChatRequest],
) -> dict[str, Any]:
    seen = functools.partial(_seen, name, model, settings, xml)
    honoured: list[str] = []
    by_cliwrap: list[str] = []
    ignored: list[str] = []
    rejected: dict[str, str] = {}
    try:
        cli, filters = seen(whole)
    except ApiError as error:  # the CLI cannot take the request at all
        return {"model": model, "honoured": [], "ignored": [], "rejected": {"*": error.message}}
    for param, other in without.items():
        changed = {f.name for f in attrs.fields(ChatRequest)} - {
            f.name
            for f in attrs.fields(ChatRequest)
            if getattr(whole, f.name) == getattr(other, f.name)
        }
        if not changed:
            ignored.append(param)
            continue
        if changed <= DELIVERY_FIELDS:
            honoured.append(param)
            by_cliwrap.append(param)
            continue
        try:
            other_cli, other_filters = seen(other)
        except ApiError as error:
            rejected[param] = error.message
            continue
        if other_cli != cli:
            honoured.append(param)
        elif other_filters != filters:
            honoured.append(param)
            by_cliwrap.append(param)
        else:
            ignored.append(param)
    return {
        "model": model,
        "honoured": honoured,
        "applied_by_cliwrap": by_cliwrap,
        "ignored": ignored,
        "rejected": rejected,
    }


def _seen(
    name: str, model: str, settings: ProviderConfig, xml: XmlToolsConfig, chat: ChatRequest
) -> tuple[Any, Any]:
    """What the CLI would be given for ``chat``, and which answer filters cliwrap would run."""
    provider = PROVIDERS[name]
    planned = semantics_for(chat, xml, limits_output=provider.limits_output)
    invocation = provider.invocation(planned.request, model, _WORKDIR, settings, {}, None)
    parser = provider.parser(planned.request, model)
    given = (
        invocation.argv,
        dict(invocation.env),
        invocation.stdin,
        dict(invocation.files),
        _state(parser),
    )
    filters = tuple(
        (getattr(f, "func", f), tuple(a for a in getattr(f, "args", ()) if not _is_request(a)))
        for f in planned.filters
    )
    return given, filters


def _state(parser: object) -> dict[str, Any]:
    """A fresh parser's state: what it will send a dialogue CLI (Codex's prompt) lives there."""
    return {k: v for k, v in vars(parser).items() if not _is_request(v)}


def _is_request(value: object) -> bool:
    return isinstance(value, ChatRequest)
