"""The HTTP surface's wire details: auth, limits, error envelopes, health, models, startup."""

from __future__ import annotations

import threading

import httpx
import openai
import pytest

from cliwrap.providers import PROVIDERS
from cliwrap.testing import LiveServer

from .conftest import SdkFactory, ServerFactory


def chat(content: str, **extra: object) -> dict[str, object]:
    return {"model": "sonnet", "messages": [{"role": "user", "content": content}], **extra}


@pytest.fixture(scope="module")
def locked(start_server: ServerFactory) -> LiveServer:
    return start_server(server={"api_keys": ["key-one", "key-two"]})


def test_api_keys_are_required_and_checked(locked: LiveServer, sdk: SdkFactory) -> None:
    url = locked.base_url + "/chat/completions"
    missing = httpx.post(url, json=chat("hi"))
    wrong = httpx.post(url, json=chat("hi"), headers={"Authorization": "Bearer key-three"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["type"] == "authentication_error"
    assert "Incorrect API key" in wrong.json()["error"]["message"]
    reply = sdk(locked, "key-two").chat.completions.create(**chat("with the second key"))  # type: ignore[call-overload]
    assert reply.choices[0].message.content == "echo: with the second key"
    with pytest.raises(openai.AuthenticationError):
        sdk(locked, "nope").models.list()
    anthropic_style = httpx.get(locked.base_url + "/models", headers={"x-api-key": "key-one"})
    assert anthropic_style.status_code == 200
    assert httpx.get(locked.url + "/health").status_code == 200  # open, for load balancers


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v1/chat/completions", b"{not json", 400, None),
        ("POST", "/v1/chat/completions", b'{"model": "sonnet"}', 400, None),
        (
            "POST",
            "/v1/chat/completions",
            b'{"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}',
            404,
            "model_not_found",
        ),
        ("GET", "/v1/nothing", b"", 404, "not_found"),
        ("GET", "/v1/chat/completions", b"", 405, "method_not_allowed"),
        ("POST", "/v1/chat/completions", b"x" * (33 * 1024 * 1024), 413, "request_too_large"),
    ],
)
def test_bad_requests_get_openai_error_envelopes(
    server: LiveServer, method: str, path: str, body: bytes, status: int, code: str | None
) -> None:
    response = httpx.request(method, server.url + path, content=body, timeout=30)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["message"]
    assert "Traceback" not in response.text


def test_queue_full_is_429_with_retry_after(start_server: ServerFactory) -> None:
    tight = start_server(limits={"max_concurrent": 1, "max_queue": 0})
    holder = threading.Thread(
        target=httpx.post,
        args=(tight.base_url + "/chat/completions",),
        kwargs={"json": chat("[[hold:3]]"), "timeout": 30},
    )
    holder.start()
    tight.wait_for_cli()
    for stream in (False, True):
        refused = httpx.post(tight.base_url + "/chat/completions", json=chat("x", stream=stream))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "2"
        assert refused.json()["error"]["code"] == "queue_full"
    holder.join()


def test_rate_limit_from_the_backend_carries_no_invented_retry_after(server: LiveServer) -> None:
    response = httpx.post(
        server.base_url + "/chat/completions", json=chat("[[fail:429]]"), timeout=30
    )
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"


def test_stream_ends_right_after_done(server: LiveServer) -> None:
    with httpx.stream(
        "POST", server.base_url + "/chat/completions", json=chat("x", stream=True), timeout=30
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = b"".join(response.iter_bytes())
    assert body.endswith(b"data: [DONE]\n\n")
    assert body.startswith(b"data: {")


def test_models_list_and_health(server: LiveServer, sdk: SdkFactory) -> None:
    models = sdk(server).models.list()
    ids = [m.id for m in models.data]
    assert ids[:2] == ["opus", "sonnet"]
    assert "sonnet-progress" not in ids  # listed only with server.list_progress_models
    extra = models.data[0].model_extra or {}
    assert extra["provider"] == "claude"
    assert extra["installed"] is True
    assert models.data[0].owned_by == "claude"
    health = httpx.get(server.url + "/health").json()
    assert health["status"] == "ok"
    assert health["providers"] == {name: {"installed": True} for name in PROVIDERS}
