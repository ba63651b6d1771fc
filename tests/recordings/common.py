"""What the recorders share: the fault scenarios, a run's private folder, saving a recording.

Each ``record_<cli>.py`` drives its pinned CLI exactly as cliwrap starts it (the provider's
own invocation) against the stub backends, once per scenario, and saves stdout plus the exit
status here, as data for the parser's unit tests.
"""

from __future__ import annotations

import json
from pathlib import Path

from cliwrap.config import ProviderConfig
from cliwrap.core.request import ChatRequest, Message
from cliwrap.providers.base import PRIVATE_HOME, WORK_DIR, Invocation, Provider

__all__ = ["FAULTS", "HERE", "prepare", "save"]

HERE = Path(__file__).parent

FAULTS = {
    "auth_error": "x [[fail:401]]",
    "rate_limit": "x [[fail:429 retry-after=7]]",
    "server_error": "x [[fail:500]]",
    "overloaded": "x [[fail:503]]",
    "bad_request": "x [[fail:400]]",
    "context_overflow": "x [[overflow]]",
    "connection_dropped": "x [[drop]] [[reply:one two three four five six]]",
    "max_tokens": "x [[stop:max_tokens]] [[reply:cut short]]",
}
"""The backend faults every CLI is recorded in (the OpenAI and Gemini APIs' statuses)."""


def prepare(
    provider: Provider,
    model: str,
    prompt: str,
    settings: ProviderConfig,
    environ: dict[str, str],
    workdir: Path,
    listing: str | None = None,
) -> tuple[ChatRequest, Invocation]:
    """The request for ``prompt`` and its invocation, with its files written as the job would."""
    request = ChatRequest(model, (Message("user", prompt),))
    (workdir / PRIVATE_HOME).mkdir()
    (workdir / WORK_DIR).mkdir()  # the CLI runs there, as in the job
    invocation = provider.invocation(request, model, workdir, settings, environ, listing)
    invocation.write_files(workdir)
    return request, invocation


def save(cli: str, name: str, stdout: bytes, returncode: int) -> None:
    folder = HERE / cli
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.jsonl").write_bytes(stdout)
    (folder / f"{name}.status").write_text(json.dumps({"returncode": returncode}))
    print(f"{cli} {name}: exit {returncode}, {len(stdout.splitlines())} lines")
