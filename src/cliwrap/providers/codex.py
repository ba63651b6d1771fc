"""Codex CLI (``codex app-server``, JSON-RPC on stdio): invocation and dialogue.

``codex exec --json`` prints each agent message once, complete; only the app-server streams
(``item/agentMessage/delta``, reasoning summary deltas, token usage). So cliwrap talks
JSON-RPC to it: ``initialize``, ``initialized`` and ``thread/start`` go out at once, the
``turn/start`` with the prompt as soon as the thread id is back, and stdin is closed when the
turn is over, which ends the server. A conversation's process (:class:`CodexSession`) keeps
stdin open instead and takes a ``turn/start`` per turn on the same thread. Facts this relies
on are in shared/cli-notes/codex.md; those that shaped the code:

- Codex retries a failed model call by itself (five stream reconnects, with backoff that
  honours Retry-After), and says so with an ``error`` notification carrying
  ``willRetry``. Its retry counts are settings of a model provider, which cliwrap does not
  own (the user's ChatGPT login uses the built-in one), so the first such notification ends
  the run with the typed error instead, and the client retries.
- A dropped stream is re-requested from the start; text streamed before the drop would be
  said twice. Ending at the first notification keeps the answer honest.
- Every tool and side service is a feature or a key: all of them are switched off with
  ``-c`` overrides, which beat ``~/.codex/config.toml`` without touching it.
- What reaches the model beyond the client's messages (docs/fidelity.md): nothing. The base
  instructions are the client's system prompt, or empty, never the catalog's Codex persona;
  the permissions, apps and collaboration-mode instructions and the ``<environment_context>``
  turn (working directory, shell, date, time zone) are each a key, and all are off.
- A new thread takes earlier turns as model-visible items of their own before its first turn
  (``thread/inject_items``, raw Responses API items): a seeded session's model request
  carries each earlier turn as an ``input`` message, not one transcript string.
- ``turn/interrupt`` (thread and turn id) stops a turn within milliseconds: its answer is
  ``{}``, then ``turn/completed`` with status ``interrupted``; the interrupted turn's user
  message stays in the thread's history, its partial answer does not.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..config import ProviderConfig
from ..core.errors import ApiError, ErrorKind, sanitize
from ..core.events import Event, Failed, Finished, FinishReason, TextDelta, ThinkingDelta, Usage
from ..core.images import label
from ..core.request import ChatRequest, Message
from ..semantics.transcript import render_prompt, turn_text, turn_texts
from .base import (
    PRIVATE_HOME,
    WORK_DIR,
    Invocation,
    ProviderDefaults,
    SessionStart,
    auth_from,
    build_env,
    line_json,
)
from .failures import classify, openai_error_fields
from .limits import LimitRule, TokenLimits

__all__ = ["CodexParser", "CodexProvider", "CodexSession", "CodexTurn", "seed_items"]

AUTO_MODEL = "codex-auto"
"""Start the thread without a model: Codex uses its configured (or default) one."""

# Features that give the model a tool, or make the CLI reach out on its own.
OFF_FEATURES = (
    "apps",
    "browser_use",
    "browser_use_external",
    "code_mode_host",
    "computer_use",
    "daemon_auto_start",
    "goals",
    "hooks",
    "image_generation",
    "in_app_browser",
    "in_app_updates",
    "multi_agent",
    "plugin_sharing",
    "plugins",
    "remote_plugin",
    "shell_snapshot",
    "shell_tool",
    "skill_mcp_dependency_install",
    "skill_search",
    "sleep_tool",
    "tool_suggest",
    "unbounded_connection_retries",
    "unified_exec",
    "view_image",
    "api_key_model_discovery",
)
OVERRIDES = (
    "analytics.enabled=false",
    "check_for_update_on_startup=false",
    'web_search="disabled"',
    "tools.experimental_request_user_input={enabled=false}",
    "skills.include_instructions=false",
    "skills.bundled.enabled=false",
    "project_doc_max_bytes=0",  # no AGENTS.md from the working directory or CODEX_HOME
    'history.persistence="none"',
    'model_reasoning_summary="auto"',  # the reasoning summaries become reasoning_content
    # The model gets the client's messages, not the CLI's notes about its sandbox, apps and
    # collaboration modes, nor an <environment_context> turn naming the run's directory.
    "include_permissions_instructions=false",
    "include_apps_instructions=false",
    "include_collaboration_mode_instructions=false",
    "include_environment_context=false",
    *(f"features.{feature}=false" for feature in OFF_FEATURES),
)

CATALOG_FILE = "codex-models.json"
_INITIALIZE, _THREAD, _TURN = 1, 2, 3


class CodexProvider(ProviderDefaults):
    name = "codex"
    prefixes: tuple[str, ...] = ("codex-", "gpt-5")
    login_hint = "run `codex login` on the server, or set OPENAI_API_KEY in [providers.codex] env"
    install_hint = "install Codex CLI: `just clis` (pinned) or `npm install -g @openai/codex`"
    defaults: Mapping[str, Any] = {
        "command": "codex",
        # The models come from the CLI's bundled catalog (`codex debug models`).
        "models": [AUTO_MODEL],
        "default_model": AUTO_MODEL,
        # Your ~/.codex holds a `codex login` (ChatGPT plan); its tokens rotate, so they
        # cannot be copied into a private home. Threads are ephemeral: no session files.
        "home": "user",
    }
    env_prefixes: tuple[str, ...] = ("CODEX_", "OPENAI_")
    env_defaults: Mapping[str, str] = {}
    models_args: tuple[str, ...] | None = ("debug", "models")
    # The context window comes from the CLI's catalog (catalog_limits); the output limit of
    # the GPT-5 family is 128K (Qwen Code's table: 272K in, 128K out).
    limit_rules: tuple[LimitRule, ...] = (("*", 272_000, 128_000),)

    def invocation(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
        listing: str | None = None,
    ) -> Invocation:
        files: dict[str, str] = {}
        extra = dict(settings.env)
        if settings.home == "private":
            # CODEX_HOME must exist; an empty config file makes the folder.
            codex_home = Path(PRIVATE_HOME) / ".codex"
            files[str(codex_home / "config.toml")] = "# cliwrap: a private CODEX_HOME\n"
            extra.setdefault("CODEX_HOME", str(workdir / codex_home))
        env = build_env(
            environ,
            prefixes=self.env_prefixes,
            defaults=self.env_defaults,
            extra=extra,
            workdir=workdir,
            home=settings.home,
        )
        for name in provider_env_keys(env, settings.args):
            if name in environ and name not in env and not name.startswith("CLIWRAP_"):
                env[name] = environ[name]
        argv = [settings.command, "app-server"]
        for override in OVERRIDES:
            argv += ["-c", override]
        # Its state and logs (SQLite, prompts included) stay with the run, even in your
        # CODEX_HOME; only its installation id is kept there.
        state = json.dumps(str(workdir / "codex-state"))
        argv += ["-c", f"sqlite_home={state}", "-c", f"log_dir={state}"]
        catalog = without_apply_patch(listing)
        if catalog is not None:
            files[CATALOG_FILE] = catalog
            path = json.dumps(str(workdir / CATALOG_FILE))  # a TOML string
            argv += ["-c", f"model_catalog_json={path}"]
        if request.reasoning_effort is not None:
            effort = "xhigh" if request.reasoning_effort == "max" else request.reasoning_effort
            argv += ["-c", f'model_reasoning_effort="{effort}"']
        argv += settings.args
        thread: dict[str, Any] = {
            "cwd": str(workdir / WORK_DIR),
            "ephemeral": True,
            "sandbox": "read-only",
            "approvalPolicy": "never",
        }
        if model != AUTO_MODEL:
            thread["model"] = model
        # With no system prompt from the client, none: not the catalog's Codex persona.
        thread["baseInstructions"] = request.system_prompt or ""
        opening = [
            _request(
                _INITIALIZE, "initialize", {"clientInfo": {"name": "cliwrap", "version": "1"}}
            ),
            _message({"method": "initialized"}),
            _request(_THREAD, "thread/start", thread),
        ]
        return Invocation(
            argv=tuple(argv),
            env=env,
            stdin=b"".join(opening),
            files=files,
            stop_signal=signal.SIGINT,  # it ends its tool children on SIGINT
            dialogue=True,
        )

    def session(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
        start: SessionStart,
        listing: str | None = None,
    ) -> tuple[Invocation, CodexSession]:
        """The same app-server as a run of its own (its opening starts one ephemeral thread);
        its stdin stays open for a ``turn/start`` per turn, and ``start.seed`` goes into the
        thread before the first one. ``start.session_id`` is not Codex's: the thread's id
        is its own, learnt from the answer to ``thread/start``."""
        invocation = self.invocation(request, model, workdir, settings, environ, listing)
        return invocation, CodexSession(seed_items(start.seed))

    def parser(self, request: ChatRequest, model: str) -> CodexParser:
        return CodexParser(render_prompt(request.conversation), images=_images(request))

    def parse_models(self, output: str) -> list[str]:
        """The listed (not hidden) models of ``codex debug models``' catalog, best first."""
        try:
            models = json.loads(output).get("models") or []
        except (ValueError, AttributeError):
            return []
        listed = [m for m in models if isinstance(m, dict) and m.get("visibility") == "list"]
        listed.sort(key=lambda m: m.get("priority") or 0)
        return [str(m["slug"]) for m in listed if m.get("slug")]

    def catalog_limits(self, listing: str) -> Mapping[str, TokenLimits]:
        return catalog_limits(listing)

    def auth_hint(self, env: Mapping[str, str], home: Path) -> str:
        return auth_from(
            env,
            home,
            variables=("CODEX_API_KEY", "OPENAI_API_KEY"),
            files=(".codex/auth.json",),
            otherwise="none found: `codex login`, or set OPENAI_API_KEY",
        )


_ENV_KEY = re.compile(r"""\benv_key\s*=\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


def provider_env_keys(env: Mapping[str, str], args: Sequence[str]) -> set[str]:
    """The variables the user's own Codex model providers read their keys from.

    A provider in ``config.toml`` (or in ``-c`` arguments) names its key's variable in
    ``env_key``; Codex refuses to run without it, and no prefix would let it through the
    environment's allowlist, so those names pass as they are.
    """
    names = set(_ENV_KEY.findall(" ".join(args)))
    folder = env.get("CODEX_HOME") or (str(Path(env["HOME"]) / ".codex") if "HOME" in env else "")
    try:
        config = tomllib.loads((Path(folder) / "config.toml").read_text()) if folder else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        config = {}
    providers = config.get("model_providers")
    for provider in providers.values() if isinstance(providers, dict) else ():
        if isinstance(provider, dict) and isinstance(provider.get("env_key"), str):
            names.add(provider["env_key"])
    return names


@functools.lru_cache(maxsize=4)
def catalog_limits(listing: str) -> Mapping[str, TokenLimits]:
    """Each catalog model's ``context_window``: what Codex itself plans with. Cached, as
    :func:`without_apply_patch` is: the models list asks for every model."""
    try:
        models = json.loads(listing).get("models") or []
    except (ValueError, AttributeError):
        return {}
    return {
        str(m["slug"]): TokenLimits(context_window=m["context_window"])
        for m in models
        if isinstance(m, dict)
        and m.get("slug")
        and isinstance(m.get("context_window"), int)
        and m["context_window"] > 0
    }


@functools.lru_cache(maxsize=4)
def without_apply_patch(listing: str | None) -> str | None:
    """The CLI's model catalog with no model's ``apply_patch`` tool, or None if unknown.

    Whether Codex offers the model its file-editing tool is a fact of the model's catalog
    entry, not a setting; ``model_catalog_json`` replaces the catalog, so the run gets the
    installed CLI's own catalog (``codex debug models``, read by the inventory) with that
    one field cleared and all the rest (context window, reasoning levels, instructions)
    as it was. Cached: the listing changes only when the inventory asks again, and parsing
    the ~750 KB catalog for every run would cost ~20 ms of the event loop's time.
    """
    try:
        catalog = json.loads(listing or "")
    except ValueError:
        return None
    models = catalog.get("models") if isinstance(catalog, dict) else None
    if not isinstance(models, list):
        return None
    for model in models:
        if isinstance(model, dict):
            model["apply_patch_tool_type"] = None
    return json.dumps(catalog)


def _images(request: ChatRequest) -> tuple[tuple[str, str], ...]:
    """(label, data URL) of each of the request's new images."""
    return tuple((label(n), image.data_url) for n, image in request.new_images())


def _message(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode() + b"\n"


def _request(id_: int, method: str, params: dict[str, Any]) -> bytes:
    return _message({"id": id_, "method": method, "params": params})


class CodexParser:
    """The client half of the app-server dialogue, and its notifications as events.

    ``texts`` are the turn's text items, after the ``images`` ((label, data URL) each).
    """

    def __init__(self, *texts: str, images: tuple[tuple[str, str], ...] = ()) -> None:
        self._input: list[dict[str, Any]] = []
        for name, url in images:  # each after its label, as "[Image #N]" names it
            self._input += [{"type": "text", "text": name}, {"type": "image", "url": url}]
        self._input += [{"type": "text", "text": text} for text in texts]
        self._outbox: list[bytes] = []
        self._done = False
        self._usage = Usage()
        self._summary_part: tuple[str, int] | None = None

    def to_send(self) -> bytes | None:
        if self._done:
            return None
        out, self._outbox = b"".join(self._outbox), []
        return out

    def feed(self, line: bytes) -> list[Event]:
        if self._done:
            return []
        message = _decoded(line)
        return [] if message is None else self._read(message)

    def _read(self, message: dict[str, Any]) -> list[Event]:
        if "method" in message and "id" in message:
            # A request of the server's own (an approval, say): with tools off there are
            # none to expect, and nobody to ask; decline rather than leave it waiting.
            error = {"code": -32601, "message": "cliwrap does not answer server requests"}
            self._outbox.append(_message({"id": message["id"], "error": error}))
            return []
        if "method" in message:
            return self._notification(str(message["method"]), message.get("params") or {})
        return self._response(message)

    def _response(self, message: dict[str, Any]) -> list[Event]:
        """The answer to one of our requests: the thread's id (then the turn starts), or an
        error, which ends the run."""
        if "error" in message:
            return self._end(_rpc_error(message["error"]))
        if message.get("id") == _THREAD:
            thread_id = ((message.get("result") or {}).get("thread") or {}).get("id")
            turn = {"threadId": thread_id, "input": self._input}
            self._outbox.append(_request(_TURN, "turn/start", turn))
        return []

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        if self._done:
            return []
        self._done = True
        detail = sanitize(stderr_tail) or "no output"
        message = f"codex exited with status {returncode} before it answered: {detail}"
        return [Failed(ApiError(ErrorKind.CLI_FAILED, message))]

    def _notification(self, method: str, params: dict[str, Any]) -> list[Event]:
        if method == "item/agentMessage/delta" and params.get("delta"):
            return [TextDelta(str(params["delta"]))]
        if method == "item/reasoning/summaryTextDelta" and params.get("delta"):
            part = (str(params.get("itemId")), int(params.get("summaryIndex") or 0))
            gap = "\n\n" if self._summary_part not in (None, part) else ""
            self._summary_part = part
            return [ThinkingDelta(gap + str(params["delta"]))]
        if method == "thread/tokenUsage/updated":
            self._usage = _usage((params.get("tokenUsage") or {}).get("last") or {})
            return []
        if method == "error":
            return self._failed(params.get("error") or {})
        if method == "turn/completed":
            turn = params.get("turn") or {}
            if turn.get("status") == "completed":
                self._done = True
                return [self._usage, Finished(FinishReason.STOP)]
            return self._failed(turn.get("error") or {"message": f"turn {turn.get('status')}"})
        return []

    def _failed(self, error: dict[str, Any]) -> list[Event]:
        """A failed model call: retried by Codex or not, this run's one call is over."""
        message = str(error.get("message") or "")
        if message.startswith("Incomplete response returned") and "max_output_tokens" in message:
            self._done = True
            return [self._usage, Finished(FinishReason.LENGTH)]
        return self._end(_call_error(error))

    def _end(self, error: ApiError) -> list[Event]:
        self._done = True
        return [Failed(error)]


def _decoded(line: bytes) -> dict[str, Any] | None:
    """A JSON-RPC message (a JSON object), or None for any other line."""
    try:
        message = line_json(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


def seed_items(seed: Sequence[Message]) -> list[dict[str, Any]]:
    """Earlier turns as the raw Responses API items ``thread/inject_items`` takes: one
    message each, an assistant's as its output text, any other as a user turn's text, as
    it would have reached the thread through ``turn/start`` (a system turn marked as one)."""
    items: list[dict[str, Any]] = []
    for message in seed:
        if message.role == "assistant":
            role, kind = "assistant", "output_text"
        else:
            role, kind = "user", "input_text"
        text = turn_text(message) or " "
        items.append({"type": "message", "role": role, "content": [{"type": kind, "text": text}]})
    return items


class CodexSession:
    """A ``codex app-server`` kept across turns: one ephemeral thread, a turn per request.

    The thread's id comes back in the answer to the opening's ``thread/start``, which the
    first turn's parser reads; it then puts the seed into the thread (if any) and starts the
    turn. Later turns start at once. JSON-RPC ids count on from the opening's.
    """

    def __init__(self, seed: list[dict[str, Any]]) -> None:
        self.thread_id: str | None = None
        self.turn_id: str | None = None
        """The running turn's id (for ``turn/interrupt``), once Codex has said it."""
        self.interrupting = False
        """The turn was asked to stop: it is not started if it has not been yet, and is
        interrupted as soon as its id is known."""
        self.seed = seed
        """Items for the thread before its first turn (sent once)."""
        self._ids = itertools.count(_TURN)

    def request(self, method: str, params: dict[str, Any]) -> tuple[int, bytes]:
        """A request with an id of its own, and the id."""
        id_ = next(self._ids)
        return id_, _request(id_, method, params)

    def turn(self, request: ChatRequest, new: tuple[Message, ...]) -> tuple[bytes, CodexTurn]:
        """One user turn: a text item per new plain turn, after the request's new images."""
        self.turn_id = None
        self.interrupting = False
        parser = CodexTurn(self, *turn_texts(new), images=_images(request))
        return parser.begin(), parser

    def interrupt(self) -> bytes:
        self.interrupting = True
        return self.interrupt_request() if self.turn_id is not None else b""

    def interrupt_request(self) -> bytes:
        """``turn/interrupt`` for the running turn."""
        params = {"threadId": self.thread_id, "turnId": self.turn_id}
        return self.request("turn/interrupt", params)[1]


class CodexTurn(CodexParser):
    """One turn of a :class:`CodexSession`: over at ``turn/completed``, whatever its status.

    It keeps reading after the answer is decided (a failure Codex retries by itself is
    final for cliwrap at once, as in a run of its own), so that the pool, interrupting the
    turn, knows when Codex is done with it. A final ``error`` notification is left for the
    ``turn/completed`` that follows it and says the same, so that an answer the output limit
    cut ends with the turn and the process can take the next one.
    """

    def __init__(
        self, session: CodexSession, *texts: str, images: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(*texts, images=images)
        self._session = session
        self._awaited: dict[int, str] = {}
        """Our requests still unanswered: id ─► method."""
        self.turn_over = False

    def begin(self) -> bytes:
        """What starts the turn now: its ``turn/start``, or nothing while the thread is still
        being started (its answer brings the seed, then the turn)."""
        if self._session.thread_id is not None:
            self._start_turn()
        return self.to_send()

    def to_send(self) -> bytes:
        out, self._outbox = b"".join(self._outbox), []
        return out  # never None: stdin stays open for the next turn

    def feed(self, line: bytes) -> list[Event]:
        if self.turn_over:
            return []
        message = _decoded(line)
        if message is None:
            return []
        decided = self._done
        events = self._read(message)
        return [] if decided else events  # after the outcome, only the turn's end matters

    def _send(self, method: str, params: dict[str, Any]) -> None:
        id_, data = self._session.request(method, params)
        self._awaited[id_] = method
        self._outbox.append(data)

    def _start_turn(self) -> None:
        if self._session.interrupting:
            self.turn_over = True  # asked to stop before it began: nothing runs
            return
        self._send("turn/start", {"threadId": self._session.thread_id, "input": self._input})

    def _response(self, message: dict[str, Any]) -> list[Event]:
        id_ = message.get("id")
        method = self._awaited.pop(id_, None) if isinstance(id_, int) else None
        if "error" in message:
            # A request refused: the thread or the turn never ran, or (an interrupt's) the
            # turn was over already. Either way no turn runs now.
            self.turn_over = True
            return super()._response(message)
        result = message.get("result") or {}
        session = self._session
        if id_ == _THREAD and session.thread_id is None:
            session.thread_id = (result.get("thread") or {}).get("id")
            if session.seed and not session.interrupting:
                items, session.seed = session.seed, []
                self._send("thread/inject_items", {"threadId": session.thread_id, "items": items})
            else:
                self._start_turn()
        elif method == "thread/inject_items":
            self._start_turn()
        elif method == "turn/start":
            self._started(result.get("turn") or {})
        return []

    def _started(self, turn: dict[str, Any]) -> None:
        """The turn's id, from ``turn/start``'s answer or ``turn/started``, whichever is first;
        a turn asked to stop before it was known is interrupted now."""
        if self._session.turn_id is None and turn.get("id"):
            self._session.turn_id = str(turn["id"])
            if self._session.interrupting:
                self._outbox.append(self._session.interrupt_request())

    def _notification(self, method: str, params: dict[str, Any]) -> list[Event]:
        if method == "turn/started":
            self._started(params.get("turn") or {})
        elif method == "turn/completed":
            self.turn_over = True
        elif method == "error" and params.get("willRetry") is False:
            return []  # the turn/completed that follows carries it
        return super()._notification(method, params)


_BY_INFO = {
    "contextWindowExceeded": ErrorKind.CONTEXT_TOO_LONG,
    "usageLimitExceeded": ErrorKind.RATE_LIMIT,
    "rateLimitExceeded": ErrorKind.RATE_LIMIT,
    "serverOverloaded": ErrorKind.OVERLOADED,
    "modelNotFound": ErrorKind.MODEL_NOT_FOUND,
    "unauthorized": ErrorKind.CLI_LOGGED_OUT,
    "badRequest": ErrorKind.INVALID_REQUEST,
}


def _call_error(error: dict[str, Any]) -> ApiError:
    """The typed error for Codex's ``TurnError``: its ``codexErrorInfo``, else the message.

    A retry notice's message is "Reconnecting... 1/5"; what went wrong is in its
    ``additionalDetails``. A body Codex did not understand comes as the message, verbatim.
    """
    info = error.get("codexErrorInfo")
    details = error.get("additionalDetails")
    message = str(details or error.get("message") or "Codex reported a failure")
    status = None
    if isinstance(info, dict):
        for value in info.values():
            if isinstance(value, dict) and isinstance(value.get("httpStatusCode"), int):
                status = value["httpStatusCode"]
    body_message, error_type, _ = openai_error_fields(message)
    if isinstance(info, str) and info in _BY_INFO:
        return ApiError(_BY_INFO[info], sanitize(body_message) or info)
    return classify(status, error_type, body_message)


def _rpc_error(error: Any) -> ApiError:
    """A JSON-RPC error answer (a bad model name, config Codex refused, ...)."""
    message = error.get("message") if isinstance(error, dict) else str(error)
    return classify(None, None, f"Codex refused the request: {message}")


def _usage(last: dict[str, Any]) -> Usage:
    """The turn's token counts; Codex's ``inputTokens`` include the cached ones."""
    prompt = int(last.get("inputTokens") or 0)
    cached = int(last.get("cachedInputTokens") or 0)
    return Usage(
        input_tokens=max(0, prompt - cached),
        output_tokens=int(last.get("outputTokens") or 0),
        cache_read_tokens=cached,
    )
