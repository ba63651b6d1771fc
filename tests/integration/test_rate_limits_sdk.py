"""The SDKs see cliwrap's rate limits as the vendors' own: ``RateLimitError`` (429), its
``Retry-After`` and the code, from the OpenAI SDK (streaming or not) and the Anthropic SDK,
on the app served by hypercorn in-process (Claude Code replayed on the fake backend)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import trio
from trio_websocket import open_websocket_url

from .test_stream_status import HANG_GUARD, live_app

LOW = "[rate_limits]\nper_address = {chat = 2}\n"
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}
HELLO = [{"role": "user", "content": "replay:thinking_and_text"}]


async def test_openai_and_anthropic_sdks_get_rate_limit_errors_with_retry_after(
    tmp_path: Path,
) -> None:
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path, LOW) as live:
            client = openai.AsyncOpenAI(base_url=live.url + "/v1", api_key="x", max_retries=0)
            claude = anthropic.AsyncAnthropic(base_url=live.url, api_key="x", max_retries=0)
            async with client, claude:
                answer = await client.chat.completions.create(model="sonnet", messages=HELLO)  # type: ignore[arg-type]
                assert answer.choices[0].message.content
                message = await claude.messages.create(
                    model="sonnet",
                    max_tokens=50,
                    messages=HELLO,  # type: ignore[arg-type]
                )
                assert message.content

                with pytest.raises(openai.RateLimitError) as limited:
                    await client.chat.completions.create(model="sonnet", messages=HELLO)  # type: ignore[arg-type]
                retry = int(limited.value.response.headers["retry-after"])
                assert 1 <= retry <= 30  # the burst of 2 refills one request per 30 s
                assert limited.value.code == "rate_limit_exceeded"
                assert isinstance(limited.value.body, dict)
                assert limited.value.body["retry_after"] == retry

                with pytest.raises(openai.RateLimitError):  # a stream is refused before it starts
                    await client.chat.completions.create(
                        model="sonnet",
                        messages=HELLO,  # type: ignore[arg-type]
                        stream=True,
                    )

                with pytest.raises(anthropic.RateLimitError) as refused:
                    await claude.messages.create(
                        model="sonnet",
                        max_tokens=50,
                        messages=HELLO,  # type: ignore[arg-type]
                    )
                assert 1 <= int(refused.value.response.headers["retry-after"]) <= 30
                assert isinstance(refused.value.body, dict)
                error = refused.value.body["error"]
                assert "Rate limit reached for chat requests" in error["message"]
                assert refused.value.body == {
                    "type": "error",
                    "error": {"type": "rate_limit_error", "message": error["message"]},
                }
                assert live.backend.live == []


async def test_a_websocket_upgrade_counts_as_other_and_each_request_as_a_chat(
    tmp_path: Path,
) -> None:
    limits = "[rate_limits]\nper_address = {other = 1, chat = 1}\n"
    request = {"type": "request", "id": "a", "body": {"model": "sonnet", "messages": HELLO}}
    last: dict[str, Any] = {}
    with trio.fail_after(HANG_GUARD):
        async with live_app(tmp_path, limits) as live:
            url = "ws" + live.url[4:] + "/v1/ws"
            async with open_websocket_url(url) as socket:
                for id_ in ("a", "b"):
                    await socket.send_message(json.dumps({**request, "id": id_}))
                    while True:
                        frame = json.loads(await socket.get_message())
                        if frame["type"] in ("done", "error"):
                            break
                    last[id_] = frame
                # A second upgrade is refused with a plain HTTP answer (trio-websocket's
                # ConnectionRejected would leave its socket open: ask with httpx).
                async with httpx.AsyncClient() as http:
                    rejected = await http.get(live.url + "/v1/ws", headers=UPGRADE)
    assert last["a"]["type"] == "done"
    assert last["b"]["type"] == "error"
    assert last["b"]["status"] == 429
    assert last["b"]["error"]["code"] == "rate_limit_exceeded"
    assert rejected.status_code == 429
    assert 1 <= int(rejected.headers["retry-after"]) <= 60
    assert rejected.json()["error"]["code"] == "rate_limit_exceeded"
