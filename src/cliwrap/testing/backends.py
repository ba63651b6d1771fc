"""One stub server for every model API the CLIs call, dispatched by path.

The APIs have disjoint paths, so a single server (one port, one thread) serves every CLI at
once, and one record of requests shows what each CLI sent. :class:`StubBackends` adds a
simulated prompt cache (:mod:`cliwrap.testing.prompt_cache`) of its own to each server it
serves; :func:`handle_backends` simulates none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .anthropic import handle_messages
from .gemini import handle_gemini
from .http import Recorded, Response
from .openai_chat import handle_chat_completions
from .openai_responses import handle_responses
from .prompt_cache import CacheStats, PromptCache

__all__ = ["StubBackends", "codex_stub_args", "config_text", "handle_backends", "provider_tables"]

_ROUTES: tuple[tuple[str, Callable[[Recorded, PromptCache | None], Response]], ...] = (
    ("/v1/messages", handle_messages),
    ("/v1beta/models/", handle_gemini),
    ("/v1/chat/completions", handle_chat_completions),
    ("/v1/responses", handle_responses),
)


def handle_backends(request: Recorded, cache: PromptCache | None = None) -> Response:
    """Answer ``request`` with the stub of the API its path names (caching in ``cache``)."""
    for prefix, handler in _ROUTES:
        if request.path.startswith(prefix):
            return handler(request, cache)
    return Response.json(404, {"error": {"message": f"no route {request.method} {request.path}"}})


class StubBackends:
    """A handler for :class:`~cliwrap.testing.StubThread`: every stub API, with one simulated
    prompt cache for the server that serves it, so that usage reports cached tokens and a
    test or benchmark reads what share of the input the cache served::

        backends = StubBackends()
        with StubThread(backends) as stub:
            ...
        backends.stats().cached_share
    """

    def __init__(self, cache: PromptCache | None = None) -> None:
        self.cache = PromptCache() if cache is None else cache

    def __call__(self, request: Recorded) -> Response:
        return handle_backends(request, self.cache)

    def stats(self, api: str | None = None) -> CacheStats:
        """The cache's totals so far: of one API (``messages``, ``chat``, ``responses``,
        ``gemini``) or of all."""
        return self.cache.stats(api)


def codex_stub_args(url: str) -> list[str]:
    """Arguments that point Codex at the stub: it talks only to a configured model provider
    (it ignores ``OPENAI_BASE_URL``), whose key it reads from ``STUB_API_KEY``."""
    # request_max_retries = 0: a stub's failure is answered at once, not after Codex's own
    # retries of the request (four, with backoff: ten seconds of a test). Its retries of a
    # dropped stream stay Codex's default, as a user's provider has them.
    provider = (
        f'{{name="Stub",base_url="{url}/v1",env_key="STUB_API_KEY",wire_api="responses",'
        "request_max_retries=0}"
    )
    return ["-c", 'model_provider="stub"', "-c", f"model_providers.stub={provider}"]


def provider_tables(url: str, home: Path) -> dict[str, dict[str, Any]]:
    """Each CLI's config for the stub at ``url``: its API's address and a test key, nothing else.

    Everything else (tools off, bounded retries, private homes) is cliwrap's own default, so
    the tests and benchmarks exercise what users get. ``home`` is the HOME of the CLIs that
    use the user's by default.
    """
    return {
        "providers.claude": {
            "env": {
                "ANTHROPIC_BASE_URL": url,
                "ANTHROPIC_API_KEY": "sk-ant-test-key",
                "HOME": str(home),
            }
        },
        "providers.gemini": {
            "env": {"GOOGLE_GEMINI_BASE_URL": url, "GEMINI_API_KEY": "gemini-test-key"}
        },
        "providers.qwen": {
            "env": {"OPENAI_BASE_URL": url + "/v1", "OPENAI_API_KEY": "sk-qwen-test-key"}
        },
        "providers.codex": {
            "args": codex_stub_args(url),
            "env": {"STUB_API_KEY": "sk-codex-test-key", "HOME": str(home)},
        },
    }


def config_text(tables: dict[str, dict[str, Any]]) -> str:
    """A cliwrap config file holding ``tables`` (``{"server": {...}, "providers.x": {...}}``)."""
    return "".join(
        f"[{name}]\n" + "".join(f"{key} = {_toml(value)}\n" for key, value in table.items())
        for name, table in tables.items()
    )


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)
