"""Qwen Code (``qwen``, OpenAI-compatible key): invocation and stream-json parsing.

Runs ``qwen --bare -o stream-json --include-partial-messages --auth-type openai`` with the
prompt on stdin. Facts this relies on are in shared/cli-notes/qwen.md; the ones that shaped
the code:

- ``--bare`` reads no settings file, ``.env``, context file, skill, hook, extension or MCP
  server, and makes no background model calls (a default run adds a "memory extraction"
  request after the answer). Everything else comes from flags and the environment: the key
  and endpoint from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL``, the system prompt from a
  ``QWEN_SYSTEM_MD`` file. Bare mode still registers six tools, and the CLI has no wildcard
  for them, so every tool name the pinned CLI knows is excluded by name.
- A failed model call is retried up to seven times with a backoff that reaches 30 s (or the
  server's Retry-After, uncapped), and no flag or setting changes that for the main call;
  an answer cut by the output limit is re-requested with a larger limit, then "continued".
  The stream-json output carries neither the HTTP status, nor Retry-After, nor any finish
  reason. So a preloaded tap (``NODE_OPTIONS=--require``) reads those off the wire through
  undici's diagnostics channels, observation only, and prints one line per model call. The
  parser ends the run at the first failed call, or at the CLI's first retry: one model call
  per run, as with the other CLIs, and clients retry with our Retry-After.
- The CLI puts its own error text into the answer stream (``[API Error: …]``) and runs a
  prompt that starts with ``/`` as one of its slash commands.

What reaches the model beyond the client's messages (docs/fidelity.md): the system message
is the client's system prompt, or empty (``QWEN_SYSTEM_MD`` naming an empty file), never the
CLI's agent prompt. Bare mode still sends three ``<system-reminder>`` parts before the
prompt: "no skills", a startup context (date, OS, the working directory and a listing of
it) and the date again. Its ``model.skipStartupContext`` setting would drop the second, but
bare mode reads no settings, and without bare mode the CLI adds far more (bundled skills,
an output-language file, background memory calls). So the working directory is an empty
folder of its own: the listing shows nothing of cliwrap's (taps, system prompt files).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import ProviderConfig
from ..core.errors import ApiError, ErrorKind, sanitize
from ..core.events import Event, Failed, Finished, FinishReason, TextDelta, ThinkingDelta, Usage
from ..core.request import ChatRequest
from ..semantics.transcript import at_file_prompt
from .acp import AcpSession
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
    line_json,
    node_preload,
    under_work_dir,
)
from .failures import classify, tap_call_error
from .limits import LimitRule

__all__ = ["TAP_FILE", "TAP_LINE", "QwenParser", "QwenProvider"]

AUTO_MODEL = "qwen-auto"
"""Run without ``--model``: the CLI picks (``OPENAI_MODEL`` / ``QWEN_MODEL``, else its own)."""
SYSTEM_PROMPT_FILE = "system-prompt.md"

# Every tool name in the pinned CLI (ToolNames in packages/core/src/tools/tool-names.ts),
# not only the six bare mode registers: some appear by themselves for some endpoints
# (web_search for DashScope's), and a name that is not registered costs nothing.
TOOL_NAMES = (
    "agent",
    "artifact",
    "ask_user_question",
    "create_sub_session",
    "cron_create",
    "cron_delete",
    "cron_list",
    "display_image",
    "edit",
    "enter_plan_mode",
    "enter_worktree",
    "exec",
    "exit_plan_mode",
    "exit_worktree",
    "get_goal",
    "glob",
    "grep_search",
    "image_gen",
    "list_agents",
    "list_directory",
    "loop_wakeup",
    "lsp",
    "monitor",
    "notebook_edit",
    "propose_goal",
    "read_file",
    "read_mcp_resource",
    "record_artifact",
    "record_source",
    "report_findings",
    "request_shutdown",
    "run_shell_command",
    "save_memory",
    "send_message",
    "skill",
    "structured_output",
    "task_create",
    "task_list",
    "task_stop",
    "task_update",
    "team_create",
    "team_delete",
    "team_plan_approval",
    "todo_write",
    "tool_call",
    "tool_search",
    "update_goal",
    "web_fetch",
    "web_search",
    "workflow",
    "write_file",
    "zoom_image",
)

_TAP = """\
// Loaded by cliwrap (NODE_OPTIONS=--require). Qwen Code retries a failed model call with
// backoff and prints neither its HTTP status, nor Retry-After, nor why an answer ended.
// This reads them off the wire through undici's diagnostics channels (it only observes)
// and prints one JSON line per model call, when the call is over.
"use strict";
const channel = require("node:diagnostics_channel");
const calls = new WeakMap();
const FINISH = /"finish_reason"\\s*:\\s*"(\\w+)"/g;

channel.subscribe("undici:request:create", ({ request }) => {
  if (request.method === "POST" && /\\/chat\\/completions(\\?|$)/.test(request.path)) {
    calls.set(request, { status: null, retry_after: null, body: "", seen: "" });
  }
});
channel.subscribe("undici:request:headers", ({ request, response }) => {
  const call = calls.get(request);
  if (!call) return;
  call.status = response.statusCode;
  for (let i = 0; i + 1 < response.headers.length; i += 2) {
    if (String(response.headers[i]).toLowerCase() === "retry-after") {
      call.retry_after = String(response.headers[i + 1]);
    }
  }
});
channel.subscribe("undici:request:bodyChunkReceived", ({ request, chunk }) => {
  const call = calls.get(request);
  if (!call) return;
  if (call.status >= 400) {
    call.body = (call.body + chunk).slice(0, 8192);
    return;
  }
  const text = call.seen + chunk;  // a field split across two chunks is still found
  for (const match of text.matchAll(FINISH)) call.finish_reason = match[1];
  call.seen = text.slice(-64);
});
channel.subscribe("undici:request:trailers", ({ request }) => report(request, {}));
channel.subscribe("undici:request:error", ({ request, error }) => {
  const cause = [error.code, error.message].filter(Boolean).join(": ");
  report(request, { error: cause || String(error) });
});

function report(request, outcome) {
  const call = calls.get(request);
  if (!call) return;
  calls.delete(request);
  delete call.seen;
  process.stdout.write(JSON.stringify({ type: "%s", ...call, ...outcome }) + "\\n");
}
""".replace("%s", TAP_LINE)


class QwenProvider(ProviderDefaults):  # it cannot list its models offline
    name = "qwen"
    prefixes: tuple[str, ...] = ("qwen-", "qwen3-")
    login_hint = (
        "run `qwen` on the server and sign in with /auth, or set OPENAI_API_KEY in "
        "[providers.qwen] env"
    )
    install_hint = (
        "install Qwen Code: `just clis` (pinned) or `npm install -g @qwen-code/qwen-code`"
    )
    defaults: Mapping[str, Any] = {
        "command": "qwen",
        # The CLI's choice first; then the Qwen models of the pinned CLI's ModelStudio
        # presets (qwen3.7-max is its default for an OpenAI-compatible key).
        "models": [
            AUTO_MODEL,
            "qwen3-coder-plus",
            "qwen3.7-max",
            "qwen3.8-max",
            "qwen3.8-flash",
            "qwen3.7-plus",
            "qwen3-coder-next",
        ],
        "default_model": AUTO_MODEL,
        "home": "private",
    }
    vendor_prefix: str | None = "qwen-"  # an earlier wrapper's qwen-qwen3-coder-plus
    # Qwen Code's own tokenLimits patterns (1M for qwen3-coder-plus/-flash and qwen3.x,
    # 256K for the other Qwen models; output 64K for qwen3.x, else 32K), and its default
    # (200K / 32K) for whatever model an OpenAI-compatible endpoint serves, qwen-auto too.
    limit_rules: tuple[LimitRule, ...] = (
        (AUTO_MODEL, 200_000, 32_000),
        ("qwen3-coder-plus*", 1_000_000, 32_768),
        ("qwen3-coder-flash*", 1_000_000, 32_768),
        ("qwen3.[0-9]*", 1_000_000, 65_536),
        ("qwen*", 262_144, 32_768),
        ("*", 200_000, 32_000),
    )
    env_prefixes: tuple[str, ...] = ("OPENAI_", "QWEN_", "DASHSCOPE_")
    env_defaults: Mapping[str, str] = {
        # Its launcher already runs the CLI in a second Node process; the CLI would start a
        # third to raise its heap limit (~1 s per run). One turn needs no bigger heap.
        "QWEN_CODE_NO_RELAUNCH": "true",
        # Usage statistics go to Alibaba's RUM endpoint even in bare mode.
        "QWEN_USAGE_STATISTICS_ENABLED": "false",
        "QWEN_TELEMETRY_ENABLED": "false",
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
        prompt, images = at_file_prompt(request)
        files.update(under_work_dir(images))
        at = 2  # after --bare
        argv[at:at] = ["--output-format", "stream-json", "--include-partial-messages"]
        return Invocation(argv=tuple(argv), env=env, stdin=prompt.encode(), files=files)

    def session(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
        start: SessionStart,
        listing: str | None = None,
    ) -> tuple[Invocation, AcpSession]:
        """The CLI as an Agent Client Protocol agent (``--acp``): one session, a
        ``session/prompt`` per turn (providers/acp.py). In ACP mode it reads its settings
        file even when bare: follow-up suggestions, an extra model call after every turn
        from the second on, are switched off there."""
        argv, env, files = self._command(request, model, workdir, settings, environ)
        argv.insert(2, "--acp")
        files[f"{PRIVATE_HOME}/.qwen/settings.json"] = json.dumps(_ACP_SETTINGS)
        session = AcpSession(str(workdir / WORK_DIR), "qwen", start.seed)
        invocation = Invocation(
            argv=tuple(argv), env=env, stdin=session.opening(), files=files, dialogue=True
        )
        return invocation, session

    def _command(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
    ) -> tuple[list[str], dict[str, str], dict[str, str | bytes]]:
        """The arguments (but the output mode), environment and files every run shares."""
        files: dict[str, str | bytes] = {TAP_FILE: _TAP}
        ours = {
            "NODE_OPTIONS": node_preload(workdir / TAP_FILE, configured=settings.env),
            # Where the CLI keeps its state (session records, usage log, its own update
            # pointer): the run's directory, whatever HOME is, so the user's ~/.qwen is
            # neither written nor able to swap the pinned CLI for an auto-updated one.
            "QWEN_HOME": str(workdir / PRIVATE_HOME / ".qwen"),
        }
        # A file, not --system-prompt: system prompts run to tens of kilobytes, and one
        # argument may not exceed 128 KiB. With none from the client, an empty one: not the
        # CLI's 15 kB agent prompt.
        files[SYSTEM_PROMPT_FILE] = request.system_prompt or ""
        ours["QWEN_SYSTEM_MD"] = str(workdir / SYSTEM_PROMPT_FILE)
        env = build_env(
            environ,
            prefixes=self.env_prefixes,
            defaults=self.env_defaults,
            extra={**ours, **settings.env, "NODE_OPTIONS": ours["NODE_OPTIONS"]},
            workdir=workdir,
            home=settings.home,
        )
        argv = [
            settings.command,
            "--bare",
            "--auth-type",
            "openai",
            "--chat-recording=false",
            "--exclude-tools=" + ",".join(TOOL_NAMES),
        ]
        if model != AUTO_MODEL:
            argv += ["--model", model]
        if request.max_turns is not None:
            argv += ["--max-session-turns", str(request.max_turns)]
        argv += settings.args
        return argv, env, files

    def parser(self, request: ChatRequest, model: str) -> QwenParser:
        return QwenParser()

    def auth_hint(self, env: Mapping[str, str], home: Path) -> str:
        # Bare mode reads no ~/.qwen/settings.json or .env, and Qwen OAuth is gone: the
        # environment is the only source.
        return auth_from(
            env,
            home,
            variables=("OPENAI_API_KEY",),
            files=(),
            otherwise="none found: set OPENAI_API_KEY and OPENAI_BASE_URL",
        )


_ACP_SETTINGS = {"ui": {"enableFollowupSuggestions": False}}
"""Qwen Code's settings for ACP mode (read there even with ``--bare``)."""

_FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}
_CLI_ERROR_TEXT = re.compile(r"\[API Error: .*\]", re.S)
_API_ERROR = re.compile(r"\[API Error: (?:(?P<status>\d{3}) )?(?P<inner>.*?)\]", re.S)
_RETRIED = (
    "Qwen Code's model call failed and it began another (it reports no reason); "
    "see the server log's stderr tail for it."
)


class QwenParser:
    """Reads ``stream-json`` lines and the tap's: deltas, then the outcome of the one call.

    The first model call decides: a failed one (the tap's line) fails the run at once, and so
    does any retry the CLI starts, except after an answer the output limit cut short, which
    finishes with ``length``. A run the CLI completes without retrying ends at its
    ``result`` line.
    """

    def __init__(self) -> None:
        self._finish_reason: str | None = None  # of the last model call, from the tap
        self._usage: Usage | None = None  # of the last assistant message
        self._deltas = 0  # since the last whole assistant message
        self._done = False

    def feed(self, line: bytes) -> list[Event]:
        if self._done:
            return []
        try:
            data = line_json(line)
        except ValueError:
            return []
        if not isinstance(data, dict) or data.get("parent_tool_use_id"):
            return []  # not ours, or a sub-agent's
        kind = data.get("type")
        if kind == TAP_LINE:
            return self._model_call(data)
        if kind == "stream_event":
            return self._stream_event(data.get("event") or {})
        if kind == "assistant":
            return self._whole_message(data.get("message") or {})
        if kind == "system" and data.get("subtype") == "retry":
            return self._retry()
        if kind == "result":
            return self._result(data)
        return []

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        if self._done:
            return []
        self._done = True
        detail = sanitize(stderr_tail) or "no output"
        message = f"qwen exited with status {returncode} before it answered: {detail}"
        return [Failed(ApiError(ErrorKind.CLI_FAILED, message))]

    def _model_call(self, data: dict[str, Any]) -> list[Event]:
        status = data.get("status")
        if data.get("error") or (isinstance(status, int) and status >= 400):
            self._done = True
            return [Failed(tap_call_error(data))]
        self._finish_reason = data.get("finish_reason")
        return []

    def _stream_event(self, event: dict[str, Any]) -> list[Event]:
        if event.get("type") != "content_block_delta":
            return []
        self._deltas += 1
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            text = str(delta["text"])
            # The CLI's own error text, told again by the tap's line or the result's.
            return [] if _CLI_ERROR_TEXT.fullmatch(text) else [TextDelta(text)]
        if delta.get("type") == "thinking_delta" and delta.get("thinking"):
            return [ThinkingDelta(str(delta["thinking"]))]
        return []

    def _whole_message(self, message: dict[str, Any]) -> list[Event]:
        """Keep the message's usage; pass its content on only if no delta carried it."""
        usage = _usage(message.get("usage") or {})
        if usage.input_tokens or usage.output_tokens:
            self._usage = usage
        events: list[Event] = []
        if not self._deltas:
            for block in message.get("content") or []:
                if block.get("type") == "thinking" and block.get("thinking"):
                    events.append(ThinkingDelta(str(block["thinking"])))
                elif block.get("type") == "text" and block.get("text"):
                    text = str(block["text"])
                    if not _CLI_ERROR_TEXT.fullmatch(text):
                        events.append(TextDelta(text))
        self._deltas = 0
        return events

    def _retry(self) -> list[Event]:
        """The CLI starts the call over (or goes on with it): this run's one call is over."""
        self._done = True
        if self._finish_reason == "length":
            return [self._usage or Usage(), Finished(FinishReason.LENGTH)]
        return [Failed(classify(None, None, _RETRIED))]

    def _result(self, data: dict[str, Any]) -> list[Event]:
        self._done = True
        if data.get("is_error") or data.get("subtype") != "success":
            error = data.get("error")
            error = error if isinstance(error, dict) else {}
            message = str(error.get("message") or data.get("result") or data.get("subtype"))
            return [Failed(_cli_error(message))]
        reason = _FINISH_REASONS.get(self._finish_reason or "stop", FinishReason.STOP)
        return [_usage(data.get("usage") or {}), Finished(reason)]


def _cli_error(message: str) -> ApiError:
    """The error for a ``result`` line the tap did not explain (no model call, say)."""
    match = _API_ERROR.search(message)
    status = int(match["status"]) if match and match["status"] else None
    if status is None and message.startswith("Missing API key"):
        status = 401
    return classify(status, None, match["inner"] if match else message)


def _usage(usage: dict[str, Any]) -> Usage:
    """Token counts from stream-json's usage, where ``input_tokens`` includes the cached."""
    prompt = int(usage.get("input_tokens") or 0)
    cached = int(usage.get("cache_read_input_tokens") or 0)
    return Usage(
        input_tokens=max(0, prompt - cached),
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=cached,
    )
