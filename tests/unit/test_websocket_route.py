"""What ``/v1/ws`` answers when it is not asked for a WebSocket, as /openapi.json says."""

from __future__ import annotations

from pathlib import Path

from cliwrap import __version__
from cliwrap.config import Config, ServerConfig
from cliwrap.server import openapi
from cliwrap.server.app import create_app


async def test_a_plain_get_is_a_400_and_other_methods_405(tmp_path: Path) -> None:
    app = create_app(Config(server=ServerConfig(state_dir=str(tmp_path))), {})
    client = app.test_client()
    documented = openapi.document(__version__)["paths"]["/v1/ws"]["get"]["responses"]

    plain = await client.get("/v1/ws")
    assert plain.status_code == 400
    assert "400" in documented
    error = (await plain.get_json())["error"]
    assert error["type"] == "invalid_request_error"
    assert "Upgrade: websocket" in error["message"]

    post = await client.post("/v1/ws")
    assert post.status_code == 405
    assert post.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert "405" in documented
