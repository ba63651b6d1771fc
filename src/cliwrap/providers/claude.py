"""Claude Code (``claude``): invocation and stream-json parsing.

Runs ``claude -p --output-format stream-json --verbose --include-partial-messages`` with the
prompt on stdin and every built-in tool off, and reads token-level deltas from the raw
Anthropic stream events it forwards. Facts this relies on are in shared/cli-notes/claude.md.

Its output reports a failed model call's status but not the backend's ``Retry-After``. The
pinned CLI is a Bun binary (NODE_OPTIONS means nothing to it), so a tap preloaded with
``BUN_OPTIONS=--preload`` observes each model call's response headers and prints one line per
call; the parser gives the last call's delay to the error the ``result`` line reports.

What reaches the model beyond the client's messages (docs/fidelity.md): the client's system
prompt replaces the CLI's agent prompt, and with none an empty ``--system-prompt`` does, so
the model meets no "agent in a terminal" persona it was not given. The CLI always puts its
identity line first ("You are a Claude agent, built on Anthropic's Claude Agent SDK.": no
switch, and Anthropic's API checks it for subscription logins). Its per-request billing line
is switched off (``CLAUDE_CODE_ATTRIBUTION_HEADER=0``, which also keeps prompt caching
stable). The "# Environment" turn (working directory, OS, model, date) goes only in bare mode
(``--bare``), which reads no OAuth login: so a run whose credential is ``ANTHROPIC_API_KEY``
runs bare, and a run on a ``claude login`` keeps that turn.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import ProviderConfig
from ..core.errors import ApiError, ErrorKind, sanitize
from ..core.events import Event, Failed, Finished, FinishReason, TextDelta, ThinkingDelta, Usage
from ..core.images import label
from ..core.request import ChatRequest, Message
from ..semantics.transcript import render_prompt, turn_text, turn_texts
from .base import (
    PRIVATE_HOME,
    TAP_FILE,
    TAP_LINE,
    WORK_DIR,
    Invocation,
    ProviderDefaults,
    SessionStart,
    auth_from,
    build_env,
    bun_preload,
    line_json,
)
from .failures import classify, retry_after_seconds, with_retry_after
from .limits import LimitRule

__all__ = ["ClaudeParser", "ClaudeProvider", "ClaudeSession", "ClaudeTurn", "seeded_session"]

_SYSTEM_PROMPT_FILE = "system-prompt.md"
_EFFORTS = {
    "none": "low",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}
"""``--effort`` for each requested reasoning effort (the CLI knows low to max)."""

_STOP_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}

_TAP = """\
// Loaded by cliwrap (BUN_OPTIONS=--preload). Claude Code, a Bun binary, prints neither the
// Retry-After of a failed model call nor, with retries, each call's status. This observes
// every model call (POST .../v1/messages) as its response headers arrive, passes request and
// response through untouched, and prints one JSON line per call.
"use strict";
const MODEL_CALL = /\\/v1\\/messages$/;

function isModelCall(input, init) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input?.url;
  const method = String(init?.method ?? input?.method ?? "GET").toUpperCase();
  try {
    return method === "POST" && MODEL_CALL.test(new URL(url).pathname);
  } catch {
    return false;
  }
}

function report(call) {
  process.stdout.write(JSON.stringify({ type: "%s", ...call }) + "\\n");
}

function tap(fetch) {
  return function tappedFetch(input, init) {
    const pending = fetch.apply(this, arguments);
    if (!isModelCall(input, init)) return pending;
    return pending.then(
      (response) => {
        const headers = response.headers;
        report({
          status: response.status,
          retry_after: headers.get("retry-after"),
          retry_after_ms: headers.get("retry-after-ms"),
        });
        return response;
      },
      (error) => {
        const cause = [error?.code, error?.message].filter(Boolean).join(": ");
        report({ status: null, error: cause || String(error) });
        throw error;
      },
    );
  };
}

// The CLI sends model calls through a Bun.FetchSession when the runtime has one, else through
// globalThis.fetch. A session's `fetch` is a non-configurable prototype getter, so a subclass
// gives each new session an own, tapped `fetch` (the CLI looks the class up when it needs one).
globalThis.fetch = tap(globalThis.fetch);
const Session = globalThis.Bun?.FetchSession;
if (typeof Session === "function") {
  Bun.FetchSession = class FetchSession extends Session {
    constructor(...args) {
      super(...args);
      const fetch = tap(super.fetch);
      Object.defineProperty(this, "fetch", { value: fetch, writable: true, configurable: true });
    }
  };
}
""".replace("%s", TAP_LINE)


class ClaudeProvider(ProviderDefaults):
    name = "claude"
    prefixes: tuple[str, ...] = ("claude-",)
    login_hint = (
        "run `claude` on the server and log in with /login, or set ANTHROPIC_API_KEY in "
        "[providers.claude] env"
    )
    install_hint = (
        "install Claude Code: `just clis` (pinned) or `npm install -g @anthropic-ai/claude-code`"
    )
    defaults: Mapping[str, Any] = {
        "command": "claude",
        "models": ["opus", "sonnet", "haiku"],
        "default_model": "sonnet",
    }
    aliases: Mapping[str, str] = {
        # What earlier OpenAI wrappers of Claude Code mapped by default, so that clients
        # with an OpenAI model name hard-wired still get an answer.
        "gpt-4": "opus",
        "gpt-4o": "sonnet",
        "gpt-4o-mini": "haiku",
        "gpt-4-turbo": "sonnet",
        "gpt-3.5-turbo": "haiku",
        # OpenAI's reasoning models: the large ones to opus, the small ones to sonnet.
        "o1": "opus",
        "o3": "opus",
        "o1-mini": "sonnet",
        "o3-mini": "sonnet",
        "o4-mini": "sonnet",
    }
    # Claude Code's own catalog: a 200K window unless 1M is switched on; opus writes up to
    # 128K, the others 64K (Qwen Code's table agrees).
    limit_rules: tuple[LimitRule, ...] = (
        ("opus", 200_000, 128_000),
        ("claude-opus-*", 200_000, 128_000),
        ("*", 200_000, 64_000),
    )
    env_prefixes: tuple[str, ...] = (
        "ANTHROPIC_",
        "CLAUDE_",
        "AWS_",
        "GOOGLE_",
        "CLOUD_ML_",
        "VERTEX_",
        "DISABLE_",
    )
    limits_output = True  # max_tokens reaches the model
    env_defaults: Mapping[str, str] = {
        # One model call per run: a failing backend fails in ~0.4 s instead of holding the
        # request through ten retries with backoff (the CLI's default, even on 401).
        # Clients retry 429 and 5xx themselves, with our Retry-After.
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        # No "x-anthropic-billing-header: cc_version=…; cch=…" line at the top of the system
        # prompt: it is not the client's, and its per-conversation hash defeats prompt caching.
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    }

    def invocation(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
        listing: str | None = None,
    ) -> Invocation:
        argv, env, files = self._command(request, model, workdir, settings, environ)
        argv.insert(argv.index("-p") + 1, "--no-session-persistence")
        prompt = render_prompt(request.conversation)
        if request.new_images():
            # Images go in as content blocks of a stream-json user message, as the model API
            # takes them; each after its label, so "[Image #2]" in the text finds it.
            argv[argv.index("-p") + 1 : argv.index("-p") + 1] = ["--input-format", "stream-json"]
            stdin = _user_line(request, [prompt])
        else:
            stdin = prompt.encode()
        return Invocation(argv=tuple(argv), env=env, stdin=stdin, files=files)

    def session(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
        start: SessionStart,
        listing: str | None = None,
    ) -> tuple[Invocation, ClaudeSession]:
        """A process that takes one stream-json user message per turn (on stdin, which stays
        open) and ends each turn with a ``result`` line.

        A new session gets ``--session-id``; one with earlier turns is written into the
        CLI's own session store first, one JSONL line per turn as the CLI writes them, and
        resumed (``--resume``): the model then sees each earlier turn as a turn, and the
        prompt's prefix stays the same from turn to turn, which is what prompt caching needs.
        """
        argv, env, files = self._command(request, model, workdir, settings, environ)
        at = argv.index("-p") + 1
        argv[at:at] = ["--input-format", "stream-json"]
        if start.seed:
            store = self.session_files(workdir, env, start)
            assert store is not None
            files[str(store / f"{start.session_id}.jsonl")] = seeded_session(
                start, str(workdir / WORK_DIR)
            )
            argv += ["--resume", start.session_id]
        else:
            argv += ["--session-id", start.session_id]
        invocation = Invocation(argv=tuple(argv), env=env, stdin=b"", files=files, dialogue=True)
        return invocation, ClaudeSession(stop_at_length=request.max_tokens is not None)

    def session_files(
        self, workdir: Path, env: Mapping[str, str], start: SessionStart
    ) -> Path | None:
        """Claude Code's folder for sessions run in ``workdir``'s working directory: the
        project folder of its config directory, named after the working directory."""
        config = env.get("CLAUDE_CONFIG_DIR") or str(Path(env.get("HOME", "~")) / ".claude")
        project = re.sub(r"[^a-zA-Z0-9]", "-", str(workdir / WORK_DIR))
        return Path(config).expanduser() / "projects" / project

    def _command(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
    ) -> tuple[list[str], dict[str, str], dict[str, str | bytes]]:
        """The arguments, environment and files every run of the CLI has in common."""
        files: dict[str, str | bytes] = {TAP_FILE: _TAP}
        argv = [
            settings.command,
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--include-partial-messages",
            "--model",
            model,
            "--tools",
            "",  # no built-in tools: the model is asked to talk, not to act
            "--strict-mcp-config",  # and no MCP servers from the user's settings
            "--setting-sources",
            "",  # no user/project settings, hooks or CLAUDE.md
        ]
        if request.system_prompt is not None:
            # A file, not argv: coding-assistant system prompts run to tens of kilobytes.
            files[_SYSTEM_PROMPT_FILE] = request.system_prompt
            argv += ["--system-prompt-file", str(workdir / _SYSTEM_PROMPT_FILE)]
        else:
            argv += ["--system-prompt", ""]  # not the CLI's 7 kB agent prompt either
        ours = {"BUN_OPTIONS": bun_preload(TAP_FILE, settings.env)}
        if request.reasoning_effort is not None:
            argv += ["--effort", _EFFORTS[request.reasoning_effort]]
        if request.max_turns is not None:
            argv += ["--max-turns", str(request.max_turns)]
        if request.max_budget_usd is not None:
            argv += ["--max-budget-usd", f"{request.max_budget_usd:g}"]
        if request.max_tokens is not None:
            ours["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = str(request.max_tokens)
        if request.thinking_budget is not None:
            ours["MAX_THINKING_TOKENS"] = str(request.thinking_budget)
        if settings.home == "private":
            # Claude Code keeps its settings, logins and .claude.json in CLAUDE_CONFIG_DIR,
            # else ~/.claude: point it into the private HOME too, or a CLAUDE_CONFIG_DIR
            # passed through from the server's environment would lead back to yours.
            ours["CLAUDE_CONFIG_DIR"] = str(workdir / PRIVATE_HOME / ".claude")
        argv += settings.args
        env = build_env(
            environ,
            prefixes=self.env_prefixes,
            defaults=self.env_defaults,
            # The configured environment wins, as everywhere; BUN_OPTIONS already holds it.
            extra={**ours, **settings.env, "BUN_OPTIONS": ours["BUN_OPTIONS"]},
            workdir=workdir,
            home=settings.home,
        )
        if env.get("ANTHROPIC_API_KEY"):
            # Bare mode sends no "# Environment" turn (the run's directory, OS, model, date)
            # and reads nothing the flags above do not already keep out; it also reads no
            # OAuth login, so only a run whose credential is an API key can have it.
            argv.insert(argv.index("-p") + 1, "--bare")
        return argv, env, files

    def parser(self, request: ChatRequest, model: str) -> ClaudeParser:
        return ClaudeParser(stop_at_length=request.max_tokens is not None)

    def auth_hint(self, env: Mapping[str, str], home: Path) -> str:
        return auth_from(
            env,
            home,
            variables=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
            files=(".claude/.credentials.json",),
            otherwise="none found: run `claude login` or set ANTHROPIC_API_KEY",
        )


class ClaudeParser:
    """Reads ``stream-json`` lines: deltas from ``stream_event``, the outcome from ``result``.

    Whole ``assistant`` messages normally repeat what the deltas said and are skipped; they
    are used only for a message that arrived without deltas (the CLI falls back to a
    non-streaming call when a stream breaks).

    With ``stop_at_length`` (the client set ``max_tokens``), an answer the output limit cut
    ends there, with the usage of that one model call: Claude Code would otherwise ask the
    model to resume, up to three times, and the client's limit would mean nothing.

    The tap's lines (one per model call) say what the ``result`` line leaves out: the
    backend's ``Retry-After``. The last call's goes with the error the run ends with.
    """

    def __init__(self, *, stop_at_length: bool = False) -> None:
        # Message id ─► the text deltas streamed for it, joined only if a fallback message
        # needs them: adding each delta to one string copied the answer so far every time.
        self._streamed: dict[str, list[str]] = {}
        self._current: str | None = None
        self._stop_reason: str | None = None
        self._message_usage: dict[str, Any] = {}
        self._stop_at_length = stop_at_length
        self._retry_after: float | None = None  # the last model call's, from the tap
        self._done = False

    def feed(self, line: bytes) -> list[Event]:
        try:
            data = line_json(line)
        except ValueError:
            return []
        if not isinstance(data, dict) or data.get("parent_tool_use_id"):
            return []  # not ours, or a sub-agent's
        kind = data.get("type")
        if kind == "stream_event":
            return self._stream_event(data.get("event") or {})
        if kind == "assistant":
            return self._whole_message(data.get("message") or {})
        if kind == TAP_LINE:
            self._retry_after = retry_after_seconds(
                data.get("retry_after"), data.get("retry_after_ms")
            )
            return []
        if kind == "result":
            return self._result(data)
        return []

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        if self._done:
            return []
        self._done = True
        detail = sanitize(stderr_tail) or "no output"
        return [
            Failed(
                ApiError(
                    ErrorKind.CLI_FAILED,
                    f"claude exited with status {returncode} before it answered: {detail}",
                )
            )
        ]

    def _stream_event(self, event: dict[str, Any]) -> list[Event]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._current = str(message.get("id", ""))
            self._streamed[self._current] = []
            self._message_usage = dict(message.get("usage") or {})
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                if self._current is not None:
                    self._streamed[self._current].append(delta["text"])
                return [TextDelta(delta["text"])]
            if delta.get("type") == "thinking_delta" and delta.get("thinking"):
                return [ThinkingDelta(delta["thinking"])]
        elif kind == "message_delta":
            self._stop_reason = (event.get("delta") or {}).get("stop_reason") or self._stop_reason
            self._message_usage.update(event.get("usage") or {})
            if self._stop_at_length and self._stop_reason == "max_tokens":
                self._done = True
                return [_usage({"usage": self._message_usage}), Finished(FinishReason.LENGTH)]
        return []

    def _whole_message(self, message: dict[str, Any]) -> list[Event]:
        if str(message.get("id", "")) in self._streamed or message.get("model") == "<synthetic>":
            return []  # already streamed, or the CLI's own error text (the result reports it)
        events: list[Event] = []
        broken = "".join(self._streamed.get(self._current or "", ()))
        for block in message.get("content") or []:
            if block.get("type") == "thinking" and block.get("thinking"):
                events.append(ThinkingDelta(block["thinking"]))
            elif block.get("type") == "text" and block.get("text"):
                events.append(TextDelta(_unsaid(block["text"], broken)))
        self._streamed[str(message.get("id", ""))] = []
        return [e for e in events if not (isinstance(e, TextDelta) and not e.text)]

    def _result(self, data: dict[str, Any]) -> list[Event]:
        self._done = True
        usage = _usage(data)
        if data.get("is_error") or data.get("subtype") != "success":
            if data.get("api_error") == "max_output_tokens":
                return [usage, Finished(FinishReason.LENGTH)]
            status = data.get("api_error_status")
            message = str(data.get("result") or data.get("subtype") or "claude reported an error")
            error = classify(
                status if isinstance(status, int) else None, data.get("api_error_type"), message
            )
            return [Failed(with_retry_after(error, self._retry_after))]
        reason = _STOP_REASONS.get(
            data.get("stop_reason") or self._stop_reason or "", FinishReason.STOP
        )
        return [usage, Finished(reason)]


def _unsaid(text: str, broken: str) -> str:
    """What a fallback message adds to a stream that broke off (all of it, if it differs)."""
    if broken and text.startswith(broken):
        return text[len(broken) :]
    return text


def _usage(data: dict[str, Any]) -> Usage:
    usage = data.get("usage") or {}
    cost = data.get("total_cost_usd")
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=int(usage.get("cache_read_input_tokens") or 0),
        cache_write_tokens=int(usage.get("cache_creation_input_tokens") or 0),
        cost_usd=float(cost) if isinstance(cost, (int, float)) else None,
    )


def _user_line(request: ChatRequest, texts: Sequence[str]) -> bytes:
    """One stream-json user message: the request's new images, each after its label, then
    ``texts``, each a text block of its own."""
    content: list[dict[str, Any]] = []
    for number, image in request.new_images():
        content.append({"type": "text", "text": label(number)})
        source = {"type": "base64", "media_type": image.media_type, "data": image.base64}
        content.append({"type": "image", "source": source})
    content += [{"type": "text", "text": text} for text in texts]
    message = {"type": "user", "message": {"role": "user", "content": content}}
    return (json.dumps(message, ensure_ascii=False) + "\n").encode()


def seeded_session(start: SessionStart, cwd: str) -> str:
    """A session file in Claude Code's own format holding ``start.seed``: one line per turn,
    each naming its parent (``parentUuid``), as the CLI writes them; ``--resume`` reads it.

    Only the fields the CLI needs to rebuild the turns are written (checked against 2.1.328,
    whose own files carry more bookkeeping lines).
    """
    lines = []
    parent: str | None = None
    stamp = "1970-01-01T00:00:00.000Z"
    for index, message in enumerate(start.seed):
        uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{start.session_id}/{index}"))
        role = "assistant" if message.role == "assistant" else "user"
        body: dict[str, Any] = {
            "role": role,
            "content": [{"type": "text", "text": turn_text(message) or " "}],
        }
        if role == "assistant":
            body.update(
                id=f"msg_seed{index:06d}",
                type="message",
                model="<seed>",
                stop_reason="end_turn",
                stop_sequence=None,
                usage={"input_tokens": 0, "output_tokens": 0},
            )
        line = {
            "parentUuid": parent,
            "isSidechain": False,
            "type": role,
            "message": body,
            "uuid": uid,
            "timestamp": stamp,
            "userType": "external",
            "cwd": cwd,
            "sessionId": start.session_id,
        }
        lines.append(json.dumps(line, ensure_ascii=False) + "\n")
        parent = uid
    return "".join(lines)


class ClaudeSession:
    """A Claude Code process kept across turns: each turn is one stream-json user message."""

    def __init__(self, *, stop_at_length: bool) -> None:
        self._stop_at_length = stop_at_length
        self._interrupts = 0

    def turn(self, request: ChatRequest, new: tuple[Message, ...]) -> tuple[bytes, ClaudeTurn]:
        return _user_line(request, turn_texts(new)), ClaudeTurn(stop_at_length=self._stop_at_length)

    def interrupt(self) -> bytes:
        """The control request the Agent SDKs send to stop a turn (answered by a
        ``control_response``, then the turn's ``result`` line, in ~0.1 s)."""
        self._interrupts += 1
        request = {
            "type": "control_request",
            "request_id": f"cliwrap-interrupt-{self._interrupts}",
            "request": {"subtype": "interrupt"},
        }
        return (json.dumps(request) + "\n").encode()


class ClaudeTurn(ClaudeParser):
    """One turn of a :class:`ClaudeSession`: over at its ``result`` line."""

    def __init__(self, *, stop_at_length: bool = False) -> None:
        super().__init__(stop_at_length=stop_at_length)
        self.turn_over = False

    def to_send(self) -> bytes | None:
        return b""

    def _result(self, data: dict[str, Any]) -> list[Event]:
        self.turn_over = True
        if self._done:
            return []  # the answer ended already (its output limit); the CLI has caught up
        return super()._result(data)
