"""Images: checked by their bytes and limits, numbered, only new ones handed on, and each CLI
given them the way it takes them (the stub model APIs see them)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from cliwrap.testing import LiveServer, Recorded, Response, StubThread

from ..unit.test_images import DATA_URL, PNG, image, text, user
from .conftest import SdkFactory, ServerFactory
from .test_cli_matrix import marker


def serve_images(request: Recorded) -> Response:
    """A web server with an image, a page, a slow image and nothing else."""
    if request.path == "/red.png":
        return Response(200, (("content-type", "image/png"),), (PNG,))
    if request.path == "/page.png":
        return Response(200, (("content-type", "image/png"),), (b"<html>not an image</html>",))
    if request.path == "/slow.png":
        return Response(200, (), (5.0, PNG))
    return Response(404, (("content-length", "0"),))


@pytest.fixture(scope="module")
def web() -> Iterator[StubThread]:
    with StubThread(serve_images) as stub:
        yield stub


# Against the real CLIs: what the model API receives.


def images_in(body: dict[str, Any]) -> list[str]:
    """The images in a model request, as base64 or data URLs, whichever API it is."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "image" and isinstance(node.get("source"), dict):
                found.append(node["source"]["data"])
            elif "inlineData" in node:
                found.append(node["inlineData"]["data"])
            elif node.get("type") == "image_url":
                found.append(node["image_url"]["url"])
            elif node.get("type") == "input_image":
                found.append(node["image_url"])
            else:
                for value in node.values():
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(body)
    return found


@pytest.mark.parametrize("model", ["sonnet", "gemini-2.5-flash", "qwen3-vl-plus", "gpt-5.5"])
def test_each_cli_hands_the_image_to_its_model(
    model: str, server: LiveServer, sdk: SdkFactory, stub: StubThread
) -> None:
    tag = marker()
    reply = sdk(server).chat.completions.create(
        model=model,
        messages=[user(text(f"what is in [Image #1]? {tag} [[reply:a red square]]"), image())],  # type: ignore[list-item]
    )
    assert reply.choices[0].message.content == "a red square"
    sent = [r for r in stub.find(tag) if images_in(r.body)]
    assert sent, "no model request carried the image"
    assert len(images_in(sent[-1].body)) == 1


def test_anthropic_image_blocks(server: LiveServer, stub: StubThread) -> None:
    tag = marker()
    with anthropic.Anthropic(base_url=server.url, api_key="unused", max_retries=0) as client:
        message = client.messages.create(
            model="sonnet",
            max_tokens=64,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/png",
                                "data": base64.b64encode(PNG).decode(),
                            },
                        },
                        {"type": "text", "text": f"what is this? {tag} [[reply:red]]"},
                    ],
                }
            ],
        )
    assert message.content[-1].type == "text"
    assert message.content[-1].text == "red"
    (sent,) = stub.find(tag)
    assert images_in(sent.body) == [base64.b64encode(PNG).decode()]
    assert "[Image #1]" in json.dumps(sent.body)


@pytest.fixture(scope="module")
def fetching(start_server: ServerFactory) -> LiveServer:
    return start_server(images={"allow_urls": True, "url_timeout": 1.0})


def test_image_urls_are_fetched_only_when_allowed(
    server: LiveServer, fetching: LiveServer, web: StubThread, stub: StubThread, sdk: SdkFactory
) -> None:
    url = web.url + "/red.png"
    ask: Any = [user(text("what is it? [[reply:red]]"), image(url))]
    with pytest.raises(openai.BadRequestError) as refused:
        sdk(server).chat.completions.create(model="sonnet", messages=ask)
    assert "allow_urls" in str(refused.value)
    tag = marker()
    ask = [user(text(f"what is it? {tag} [[reply:red]]"), image(url))]
    reply = sdk(fetching).chat.completions.create(model="sonnet", messages=ask)
    assert reply.choices[0].message.content == "red"
    (sent,) = stub.find(tag)
    assert images_in(sent.body) == [base64.b64encode(PNG).decode()]
    for path, says in [("/page.png", "not a PNG"), ("/gone.png", "HTTP 404"), ("/slow.png", "1 s")]:
        with pytest.raises(openai.BadRequestError) as bad:
            sdk(fetching).chat.completions.create(
                model="sonnet",
                messages=[user(text("x"), image(web.url + path))],  # type: ignore[list-item]
            )
        assert says in str(bad.value)


def test_responses_input_image(server: LiveServer, sdk: SdkFactory, stub: StubThread) -> None:
    tag = marker()
    response = sdk(server).responses.create(
        model="gpt-5.5",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": f"what is it? {tag} [[reply:red]]"},
                    {"type": "input_image", "image_url": DATA_URL, "detail": "auto"},
                ],
            }
        ],
    )
    assert response.output_text == "red"
    assert any(images_in(r.body) for r in stub.find(tag))
