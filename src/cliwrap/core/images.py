"""Images in a request, sans I/O: decoded, checked by their bytes, numbered, and limited.

Every surface hands images in as base64 (OpenAI data URLs, Anthropic base64 blocks). What an
image *is* is decided by its first bytes, not by the type the client claimed: PNG, JPEG, GIF
and WebP are what every CLI's model takes. An image keeps its place in the text as
``[Image #N]``, numbered through the conversation, the label Claude Code itself uses; a client
may refer to it by that label.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse

import attrs

from .errors import ApiError, ErrorKind

__all__ = [
    "MAX_IMAGES",
    "MAX_IMAGE_BYTES",
    "Album",
    "Image",
    "RemoteImage",
    "checked",
    "from_base64",
    "from_url",
    "label",
]

MAX_IMAGES = 20
MAX_IMAGE_BYTES = int(3.75 * 1024 * 1024)
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?;base64,(.*)$", re.DOTALL)


@attrs.frozen
class Image:
    media_type: str
    """``image/png``, ``image/jpeg``, ``image/gif`` or ``image/webp``, from the bytes."""
    data: bytes = attrs.field(repr=lambda d: f"<{len(d)} bytes>")

    @property
    def suffix(self) -> str:
        return "." + self.media_type.split("/")[1].replace("jpeg", "jpg")

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.base64}"


@attrs.define
class Album:
    """The request's images in order, as a surface reads them: each gets the next number."""

    images: list[Image | RemoteImage] = attrs.field(factory=list)

    def add(self, image: Image | RemoteImage) -> str:
        """Take ``image``; the label that stands for it in the text."""
        self.images.append(image)
        if len(self.images) > MAX_IMAGES:
            raise _invalid(f"At most {MAX_IMAGES} images per request.", "messages")
        return label(len(self.images))

    def since(self, count: int) -> tuple[Image | RemoteImage, ...]:
        """The images added after the first ``count``."""
        return tuple(self.images[count:])


@attrs.frozen
class RemoteImage:
    """An image given by an http(s) URL: fetched before the run, if the config allows it."""

    url: str


def label(number: int) -> str:
    """How image ``number`` (from 1) stands in the text."""
    return f"[Image #{number}]"


def from_url(url: object, where: str) -> Image | RemoteImage:
    """An image from a ``data:`` URL, or one to fetch from an http(s) URL; else a 400."""
    if not isinstance(url, str):
        raise _invalid(f"{where} must be a data: URL or an http(s) URL.", where)
    if url.startswith(("http://", "https://")):
        if not _fetchable(url):
            raise _invalid(f"{where} is not a valid http(s) URL.", where)
        return RemoteImage(url)
    found = _DATA_URL.match(url)
    if found is None:
        raise _invalid(f"{where} must be a base64 data: URL (data:image/png;base64,...).", where)
    return from_base64(found.group(3), where)


_HOST = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)


def _fetchable(url: str) -> bool:
    """Whether ``url`` is an http(s) URL an HTTP client can take: a host name (ASCII;
    IDNA hosts as ``xn--``) or an IP literal, a port that is a number, no whitespace or
    control characters. Anything else is the client's mistake, said as a 400 now rather
    than found by the fetch."""
    if len(url) > 8192 or not url.isprintable() or any(c.isspace() for c in url):
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return False
    host = parts.hostname or ""
    if host.startswith("[") or ":" in host:  # urlsplit checked the IPv6 literal
        return True
    return bool(_HOST.fullmatch(host))


def checked(data: bytes, where: str) -> Image:
    """``data`` as an image, typed by its bytes, or a 400 naming ``where``."""
    if len(data) > MAX_IMAGE_BYTES:
        raise _too_big(where)
    media_type = _sniff(data)
    if media_type is None:
        raise _invalid(f"{where} is not a PNG, JPEG, GIF or WebP image.", where)
    return Image(media_type, data)


def from_base64(text: object, where: str) -> Image:
    """An image from base64 text, typed by its bytes, or a 400 naming ``where``."""
    if not isinstance(text, str):
        raise _invalid(f"{where} must be base64 text.", where)
    if len(text) > (MAX_IMAGE_BYTES * 4) // 3 + 8:
        raise _too_big(where)
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(f"{where} is not valid base64.", where) from None
    return checked(data, where)


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _too_big(where: str) -> ApiError:
    limit = MAX_IMAGE_BYTES / 1024 / 1024
    return _invalid(f"{where} is larger than {limit:g} MB.", where)


def _invalid(message: str, where: str) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, message, param=where)
