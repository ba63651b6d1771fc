"""The app served by hypercorn inside the test's own trio run (no subprocess): for tests that
need a real socket (raw HTTP, an SDK) and also the app's objects (its service, a fake
process backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

__all__ = ["served_in_process"]


@asynccontextmanager
async def served_in_process(app: Any) -> AsyncIterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port until the block ends; yields its URL
    (``http://127.0.0.1:PORT``). Hypercorn's own logs are off: the tests read the app's."""
    hyper = HypercornConfig()
    hyper.bind = ["127.0.0.1:0"]
    hyper.accesslog = None
    hyper.errorlog = None
    async with trio.open_nursery() as nursery:
        binds: list[str] = await nursery.start(partial(serve, app, hyper))
        yield binds[0]
        nursery.cancel_scope.cancel()
