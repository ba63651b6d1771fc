"""Images: checked by their bytes and limits, numbered, only new ones handed on, and each CLI
given them the way it takes them (the stub model APIs see them)."""

from __future__ import annotations

import base64
import struct
import zlib
from typing import Any

import pytest

from cliwrap.core.errors import ApiError
from cliwrap.core.images import MAX_IMAGE_BYTES, MAX_IMAGES, from_base64
from cliwrap.surfaces.openai_chat import parse_chat_request


def png(width: int = 2) -> bytes:
    """A real PNG (CLIs decode what they forward)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(width))
    header = struct.pack(">IIBBBBB", width, width, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = png()
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def user(*parts: Any) -> dict[str, Any]:
    return {"role": "user", "content": list(parts)}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def image(url: str = DATA_URL) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def test_images_are_typed_by_their_bytes_not_their_label() -> None:
    assert from_base64(base64.b64encode(PNG).decode(), "x").media_type == "image/png"
    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 16).decode()
    assert from_base64(jpeg, "x").media_type == "image/jpeg"
    webp = base64.b64encode(b"RIFF\0\0\0\0WEBPVP8 ").decode()
    assert from_base64(webp, "x").media_type == "image/webp"
    lying = "data:image/png;base64," + base64.b64encode(b"%PDF-1.7 not an image").decode()
    with pytest.raises(ApiError) as caught:
        parse_chat_request({"model": "m", "messages": [user(image(lying))]})
    assert "not a PNG, JPEG, GIF or WebP" in caught.value.message
    assert caught.value.param == "messages[0].content[0].image_url.url"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/cat.png", "data: URL"),
        ("data:image/png;base64,@@@", "not valid base64"),
        ("data:image/png;base64," + "A" * (MAX_IMAGE_BYTES * 4 // 3 + 100), "larger than 3.75 MB"),
    ],
)
def test_bad_images_are_400(url: str, says: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_chat_request({"model": "m", "messages": [user(image(url))]})
    assert caught.value.status == 400
    assert says in caught.value.message


def test_at_most_twenty_images() -> None:
    parse_chat_request({"model": "m", "messages": [user(*[image()] * MAX_IMAGES)]})
    with pytest.raises(ApiError) as caught:
        parse_chat_request({"model": "m", "messages": [user(*[image()] * (MAX_IMAGES + 1))]})
    assert "At most 20 images" in caught.value.message


def test_images_are_numbered_and_only_new_ones_handed_on() -> None:
    chat = parse_chat_request(
        {
            "model": "m",
            "messages": [
                user(text("look"), image()),
                {"role": "assistant", "content": "a red square"},
                user(
                    text("and these?"), image(), image(), text("compare [Image #3] to [Image #1]")
                ),
            ],
        }
    )
    assert chat.messages[0].content == "look\n[Image #1]"
    assert (
        chat.messages[2].content
        == "and these?\n[Image #2]\n[Image #3]\ncompare [Image #3] to [Image #1]"
    )
    assert [n for n, _ in chat.new_images()] == [2, 3]
