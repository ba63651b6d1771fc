"""What ``cliwrap serve`` hands hypercorn."""

from __future__ import annotations

from cliwrap.config import Config, ServerConfig
from cliwrap.server.serve import hypercorn_config


def test_hypercorn_listens_with_the_configured_backlog() -> None:
    # hypercorn calls listen() again on the socket it is given, with its own backlog (100).
    hyper = hypercorn_config(Config(server=ServerConfig(backlog=2048)), 7)
    assert hyper.backlog == 2048
    assert hyper.bind == ["fd://7"]
    assert hypercorn_config(Config(), 7).backlog == 1024
