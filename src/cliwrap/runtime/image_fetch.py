"""Fetching images given by http(s) URL, before a run, when the config allows it.

Off by default: a server that fetches what clients name can be made to reach addresses only
it can reach. When on, each new image (none from before the last assistant turn, which are
not handed on again) is fetched at once, all concurrently, each within ``url_timeout``
seconds and :data:`~cliwrap.core.images.MAX_IMAGE_BYTES`, and then checked like any other image.
"""

from __future__ import annotations

import sys

import attrs
import httpx
import trio

from ..config import ImagesConfig
from ..core.errors import ApiError, ErrorKind, error_leaves
from ..core.images import MAX_IMAGE_BYTES, Image, RemoteImage, checked
from ..core.request import ChatRequest

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["fetch_images"]


async def fetch_images(chat: ChatRequest, settings: ImagesConfig) -> ChatRequest:
    """``chat`` with its new remote images fetched; a 400 if that is off or fails."""
    last = max((i for i, m in enumerate(chat.messages) if m.role == "assistant"), default=-1)
    wanted = {
        image.url
        for message in chat.messages[last + 1 :]
        for image in message.images
        if isinstance(image, RemoteImage)
    }
    if not wanted:
        return chat
    if not settings.allow_urls:
        raise _invalid(
            "Images given by URL are not fetched (the server's [images] allow_urls is off); "
            "send the image inline as a base64 data: URL."
        )
    fetched: dict[str, Image] = {}

    async def fetch_within_time(client: httpx.AsyncClient, url: str) -> None:
        with trio.move_on_after(settings.url_timeout) as scope:
            fetched[url] = await _fetch(client, url)
        if scope.cancelled_caught:
            raise _invalid(f"Fetching image {url} took longer than {settings.url_timeout:g} s.")

    try:
        async with httpx.AsyncClient(follow_redirects=True) as client, trio.open_nursery() as n:
            for url in wanted:
                n.start_soon(fetch_within_time, client, url)
    except BaseExceptionGroup as group:
        failures = [e for e in error_leaves(group) if isinstance(e, ApiError)]
        if failures:
            raise failures[0] from None  # the client hears of one bad image at a time
        raise
    messages = tuple(
        attrs.evolve(
            message,
            images=tuple(
                fetched.get(image.url, image) if isinstance(image, RemoteImage) else image
                for image in message.images
            ),
        )
        for message in chat.messages
    )
    return attrs.evolve(chat, messages=messages)


async def _fetch(client: httpx.AsyncClient, url: str) -> Image:
    data = bytearray()
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise _invalid(f"Fetching image {url} failed: HTTP {response.status_code}.")
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_IMAGE_BYTES:
                    raise _invalid(f"Image {url} is larger than 3.75 MB.")
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        raise _invalid(f"Fetching image {url} failed: {error}.") from None
    return checked(bytes(data), url)


def _invalid(message: str) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message, param="messages")
