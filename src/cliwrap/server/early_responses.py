"""Answers given before the request body was read leave the connection usable (ASGI middleware).

A 401 from the authentication check, a 404, a 405 or a 413 is answered without reading the
request's body. On a keep-alive HTTP/1.1 connection the rest of that body is still on its
way, and the client's next request comes after it. Neither Quart nor hypercorn copes: once
the response is sent, quart-trio stops taking body messages and cancels the request's
tasks, so hypercorn can neither finish reading the body (its queue to the app fills up) nor
close the connection (the close runs in the cancelled task). The client's next request
then waits forever. *measured* with hypercorn 0.18 and quart-trio 0.12.

:class:`FinishRequestBodies` holds such an early response until the application is done,
then reads and discards what is left of the body, at most :data:`DRAIN_BYTES` within
:data:`DRAIN_SECONDS`. If the body ended, the response goes out as it was and the connection
serves the next request. If not, it goes out with ``Connection: close``, and hypercorn
closes the connection after it, while a task keeps discarding body messages so that
hypercorn's own queue never blocks the close. Responses that start after the body was read
(every answer from a model, streams included) pass straight through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

import attrs
import trio
from hypercorn.typing import (
    ASGIReceiveCallable,
    ASGIReceiveEvent,
    ASGISendCallable,
    ASGISendEvent,
    HTTPResponseStartEvent,
    Scope,
)

__all__ = ["DRAIN_BYTES", "DRAIN_SECONDS", "FinishRequestBodies"]

App = Callable[[Scope, ASGIReceiveCallable, ASGISendCallable], Awaitable[None]]

DRAIN_BYTES = 1024 * 1024
"""The most body bytes read and thrown away after an early response to keep the connection;
a client with more than this still to send gets ``Connection: close`` instead."""
DRAIN_SECONDS = 5.0
"""How long the rest of the body may take to arrive before the connection is closed."""


@attrs.define
class _Exchange:
    """One HTTP request's progress, as the middleware sees it."""

    body_done: bool = False
    early: bool = False
    """The response started before the request body ended: it is held back."""
    held: list[ASGISendEvent] = attrs.field(factory=list)

    def saw(self, message: ASGIReceiveEvent) -> None:
        if message["type"] == "http.disconnect" or (
            message["type"] == "http.request" and not message.get("more_body", False)
        ):
            self.body_done = True


@attrs.frozen
class FinishRequestBodies:
    """ASGI middleware: see the module's docstring."""

    app: App

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange()

        async def tracked_receive() -> ASGIReceiveEvent:
            message = await receive()
            exchange.saw(message)
            return message

        async def held_send(message: ASGISendEvent) -> None:
            if message["type"] == "http.response.start" and not exchange.body_done:
                exchange.early = True
            if exchange.early:
                exchange.held.append(message)
            else:
                await send(message)

        await self.app(scope, tracked_receive, held_send)
        if exchange.early:
            await _finish(exchange, receive, send)


async def _finish(
    exchange: _Exchange, receive: ASGIReceiveCallable, send: ASGISendCallable
) -> None:
    """Read what is left of the body (within bounds), then send the held response: as it
    was if the body ended, else with ``Connection: close``."""
    drained = 0
    with trio.move_on_after(DRAIN_SECONDS):
        while not exchange.body_done and drained <= DRAIN_BYTES:
            arrived = await receive()
            exchange.saw(arrived)
            if arrived["type"] == "http.request":
                drained += len(arrived.get("body", b""))
    if exchange.body_done:
        for held in exchange.held:
            await send(held)
        return
    first, *rest = exchange.held
    start = cast(HTTPResponseStartEvent, first)
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"connection"]
    start = {**start, "headers": [*headers, (b"connection", b"close")]}
    async with trio.open_nursery() as nursery:
        # hypercorn hands the app more body (and, once the response is out, a disconnect)
        # through a bounded queue: someone must keep taking them for the close to happen.
        nursery.start_soon(_discard_until_disconnect, receive)
        for held in (start, *rest):
            await send(held)


async def _discard_until_disconnect(receive: ASGIReceiveCallable) -> None:
    with trio.move_on_after(DRAIN_SECONDS):
        while (await receive())["type"] != "http.disconnect":
            pass
