"""``DELETE /v1/requests/{id}`` through the OpenAI SDK against a live server: the cancelled
client gets a clean end (a stream ends with a ``request_cancelled`` error event, a plain
request gets a 409), the CLI's process group is reaped and the ledger is empty.

One server for the module; its CLI is a script that says one word and then works for ever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jsonschema
import openai
import pytest
import referencing
from referencing.jsonschema import DRAFT202012

from cliwrap import __version__
from cliwrap.server.openapi import document
from cliwrap.testing import LiveServer, group_alive

from ..slow_cli import WORD, slow_server

KEY = "test-key"
_BOUND = 30.0
"""Seconds; only so that a regression fails instead of hanging the suite."""


def wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + _BOUND
    while not (found := check()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with slow_server(tmp_path_factory.mktemp("cancel"), (KEY,)) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as sdk:
        yield sdk


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=_BOUND) as http:
        yield http


def documented(name: str, instance: Any) -> None:
    """Fail unless ``instance`` matches the schema ``name`` of /openapi.json."""
    registry = referencing.Registry().with_resource(
        "urn:cliwrap", DRAFT202012.create_resource(document(__version__))
    )
    schema = {"$ref": f"urn:cliwrap#/components/schemas/{name}"}
    jsonschema.Draft202012Validator(schema, registry=registry).validate(instance)


def listed(api: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = api.get("/v1/requests").json()
    documented("RunList", body)
    return body


def live_state(api: httpx.Client, run_id: str) -> str | None:
    listed_now = listed(api)
    return next((run["state"] for run in listed_now["live"] if run["id"] == run_id), None)


def cancel(api: httpx.Client, server: LiveServer, run_id: str) -> dict[str, Any]:
    """Cancel ``run_id`` once its CLI is running; check its group is reaped, the ledger empty."""
    (pgid,) = server.wait_for_cli()
    wait_for(lambda: live_state(api, run_id) == "running", f"{run_id} running")
    response = api.delete(f"/v1/requests/{run_id}")
    assert response.status_code == 200
    view: dict[str, Any] = response.json()
    documented("RunView", view)
    assert view["id"] == run_id
    wait_for(lambda: not group_alive(pgid), "the CLI's group reaped")
    wait_for(lambda: not server.pgids(), "the ledger empty")
    return view


def recent(api: httpx.Client, run_id: str) -> dict[str, Any]:
    now = listed(api)
    assert all(run["id"] != run_id for run in now["live"])
    found: dict[str, Any] = next(run for run in now["recent"] if run["id"] == run_id)
    return found


def test_a_cancelled_stream_ends_with_a_request_cancelled_error(
    server: LiveServer, client: openai.OpenAI, api: httpx.Client
) -> None:
    stream = client.chat.completions.create(
        model="sonnet",
        messages=[{"role": "user", "content": "work for ever"}],
        stream=True,
        extra_headers={"X-Request-Id": "stream-1"},
    )
    with stream:
        chunks = iter(stream)
        first = next(chunks)
        while not first.choices or not first.choices[0].delta.content:
            first = next(chunks)
        assert first.choices[0].delta.content.strip() == WORD
        view = cancel(api, server, "stream-1")
        assert view["stream"] is True
        with pytest.raises(openai.APIError) as caught:
            for _ in chunks:
                pass
    assert caught.value.code == "request_cancelled"
    assert "cancelled" in caught.value.message
    ended = recent(api, "stream-1")
    assert ended["state"] == "cancelled"
    assert ended["status"] == 200  # the stream had started
    assert ended["first_output_ms"] is not None


def test_a_cancelled_request_gets_a_409(
    server: LiveServer, client: openai.OpenAI, api: httpx.Client
) -> None:
    caught: list[BaseException] = []

    def ask() -> None:
        try:
            client.chat.completions.create(
                model="sonnet",
                messages=[{"role": "user", "content": "work for ever"}],
                extra_headers={"X-Request-Id": "plain-1"},
            )
        except BaseException as exc:
            caught.append(exc)

    thread = threading.Thread(target=ask)
    thread.start()
    try:
        cancel(api, server, "plain-1")
    finally:
        thread.join(_BOUND)
    (error,) = caught
    assert isinstance(error, openai.ConflictError)
    assert error.status_code == 409
    assert error.code == "request_cancelled"
    ended = recent(api, "plain-1")
    assert ended["state"] == "cancelled"
    assert ended["status"] == 409


def test_an_unknown_or_finished_request_is_a_404(api: httpx.Client) -> None:
    response = api.delete("/v1/requests/no-such-request")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_list_needs_the_key(server: LiveServer) -> None:
    response = httpx.get(server.url + "/v1/requests", timeout=_BOUND)
    assert response.status_code == 401
