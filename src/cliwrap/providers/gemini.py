"""Gemini CLI (``gemini``, API-key mode): invocation and stream-json parsing.

Runs ``gemini -o stream-json`` with the prompt on stdin, in the run's private directory, with
a workspace settings file that turns off every tool, hook, skill and retry loop. Facts this
relies on are in shared/cli-notes/gemini.md; the ones that shaped the code:

- Settings are layered (user < workspace < system). The system layer would be ideal, but the
  CLI reads a system settings file only if it and every folder above it belong to root and
  are writable by no one else, so a per-run file never qualifies. The workspace layer
  (``<cwd>/.gemini/settings.json``) is the next best: it beats ``~/.gemini/settings.json``
  key by key, so the same file works with a private HOME and with the user's own, and it is
  read only in a trusted folder (``GEMINI_CLI_TRUST_WORKSPACE``; ``--skip-trust`` is parsed
  too late for it). The user's MCP servers merge into ours rather than yield, and extensions
  are folders in ~/.gemini, so both are refused on the command line, which no file overrides.
- stdout goes through Node's asynchronous pipe writes, and the CLI exits with
  ``process.exit()`` straight after its ``result`` line: whatever the pipe had not taken yet is
  lost. stream-json echoes the whole prompt first, so with a prompt of a few hundred kilobytes
  and a quick backend the answer itself went missing. A preloaded one-liner makes the CLI's
  stdout and stderr writes blocking: the CLI then waits for us instead.
- A failed model call ends with ``{"type":"result","status":"error","error":{...}}`` and an
  exit status that is the HTTP status modulo 256 (429 ─► 173); the message has the status
  only when it is Google's JSON error body, so the parser waits for the exit status.
- Thoughts are requested from the model but never printed in stream-json; finish reasons are
  not printed either, except for a reply that hit the output limit before saying anything.
  A prompt the CLI estimates to be too large for the context window is not sent at all, and
  reported as a success with no answer and no model call.
- The CLI takes a retry delay only from Google's error body, never from the ``Retry-After``
  header, and prints neither. A second preload taps undici's diagnostics channels (it only
  observes) and prints each model call's status and ``Retry-After``; the header, where there
  is one, beats the delay in the body.

What reaches the model beyond the client's messages (docs/fidelity.md): the system
instruction is the client's system prompt, or empty (``GEMINI_SYSTEM_MD`` naming an empty
file), never the CLI's agent prompt; no context file (GEMINI.md) is read. The CLI always adds
a ``<session_context>`` part before the prompt (no setting drops it) with the date, the OS
and its project temp directory, which lies in its home: the private home is named relative
to the working directory, so that path says nothing of the server's folders.
"""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..config import ProviderConfig
from ..core.errors import ApiError, ErrorKind, sanitize
from ..core.events import Event, Failed, Finished, FinishReason, TextDelta, Usage
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
from .failures import classify, retry_after_seconds, with_retry_after
from .limits import LimitRule

__all__ = ["GeminiParser", "GeminiProvider"]

SETTINGS_FILE = f"{WORK_DIR}/.gemini/settings.json"
"""The workspace settings: the CLI reads them from its working directory."""
SYSTEM_PROMPT_FILE = "system-prompt.md"
STDIO_PRELOAD_FILE = "blocking-stdio.cjs"
_STDIO_PRELOAD = (
    "// Loaded by cliwrap (NODE_OPTIONS=--require): blocking writes, so that process.exit()\n"
    "// cannot drop output the pipe has not taken yet.\n"
    "for (const stream of [process.stdout, process.stderr]) stream._handle?.setBlocking?.(true);\n"
)
_TAP = """\
// Loaded by cliwrap (NODE_OPTIONS=--require). Gemini CLI takes a retry delay only from
// Google's error body, never from the HTTP Retry-After header, and prints neither. This reads
// the status and Retry-After of each model call off the wire through undici's diagnostics
// channels (it only observes) and prints one JSON line per call: when its response headers
// arrive, or when it fails before them.
"use strict";
const channel = require("node:diagnostics_channel");
const calls = new WeakMap();
const MODEL_CALL = /\\/models\\/[^/?]+:(stream)?[gG]enerateContent(\\?|$)/;

channel.subscribe("undici:request:create", ({ request }) => {
  if (request.method === "POST" && MODEL_CALL.test(request.path)) calls.set(request, false);
});
channel.subscribe("undici:request:headers", ({ request, response }) => {
  if (!calls.has(request)) return;
  calls.set(request, true);
  let retryAfter = null;
  for (let i = 0; i + 1 < response.headers.length; i += 2) {
    if (String(response.headers[i]).toLowerCase() === "retry-after") {
      retryAfter = String(response.headers[i + 1]);
    }
  }
  report({ status: response.statusCode, retry_after: retryAfter });
});
channel.subscribe("undici:request:error", ({ request, error }) => {
  if (calls.get(request) !== false) return;  // not ours, or its status is already out
  calls.delete(request);
  const cause = [error.code, error.message].filter(Boolean).join(": ");
  report({ status: null, error: cause || String(error) });
});

// Its ACP mode (--acp) takes process.stdout.write over for the protocol alone; the write
// kept from before that still reaches stdout (blocking: each line goes out whole).
const write = process.stdout.write.bind(process.stdout);
function report(call) {
  write(JSON.stringify({ type: "%s", ...call }) + "\\n");
}
""".replace("%s", TAP_LINE)
_NO_SUCH_NAME = "__none__"
"""A name no tool or MCP server has: an allowlist of it allows nothing."""


class GeminiProvider(ProviderDefaults):  # it cannot list its models offline
    name = "gemini"
    prefixes: tuple[str, ...] = ("gemini-",)
    login_hint = (
        "run `gemini` on the server and sign in, or set GEMINI_API_KEY in [providers.gemini] env"
    )
    install_hint = "install Gemini CLI: `just clis` (pinned) or `npm install -g @google/gemini-cli`"
    defaults: Mapping[str, Any] = {
        "command": "gemini",
        # The pinned CLI's current models (its models.js), then the 2.5 pair it still knows.
        "models": [
            "gemini-3.5-flash",
            "gemini-3.1-flash-lite",
            "gemini-3.1-pro-preview",
            "gemini-2.5-pro",
            "gemini-2.5-flash",
        ],
        "default_model": "gemini-3.5-flash",
        "home": "private",
    }
    # Gemini CLI's tokenLimit(): 1,048,576 for every model it knows, and as its default.
    # Gemini 2.5 and later write up to 65,536 tokens.
    limit_rules: tuple[LimitRule, ...] = (("*", 1_048_576, 65_536),)
    env_prefixes: tuple[str, ...] = ("GEMINI_", "GOOGLE_")
    limits_output = True  # max_tokens reaches the model
    env_defaults: Mapping[str, str] = {
        # The CLI re-runs itself in a second Node process to raise its heap limit: ~0.8 s
        # per run, and a parent that ignores SIGTERM. One process is plenty for one turn.
        "GEMINI_CLI_NO_RELAUNCH": "true",
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
        return Invocation(
            argv=(argv[0], "--output-format", "stream-json", *argv[1:]),
            env=env,
            stdin=prompt.encode(),
            files=files,
            stop_signal=_stop_signal(settings.home),
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
    ) -> tuple[Invocation, AcpSession]:
        """The CLI as an Agent Client Protocol agent (``--acp``): one session, a
        ``session/prompt`` per turn (providers/acp.py). The system prompt file is read on
        every model call, so one process serves one conversation shape."""
        argv, env, files = self._command(request, model, workdir, settings, environ)
        # One attempt per model call (its settings): the prompt's error answer says what
        # failed, the tap only when to come back.
        session = AcpSession(str(workdir / WORK_DIR), "gemini", start.seed, retries=False)
        invocation = Invocation(
            argv=(argv[0], "--acp", *argv[1:]),
            env=env,
            stdin=session.opening(),
            files=files,
            stop_signal=_stop_signal(settings.home),
            dialogue=True,
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
        files: dict[str, str | bytes] = {
            STDIO_PRELOAD_FILE: _STDIO_PRELOAD,
            TAP_FILE: _TAP,
        }
        preloads = (workdir / STDIO_PRELOAD_FILE, workdir / TAP_FILE)
        ours = {
            "GEMINI_CLI_TRUST_WORKSPACE": "true",  # or the workspace settings are ignored
            "NODE_OPTIONS": node_preload(*preloads, configured=settings.env),
        }
        if settings.home == "private":
            # Gemini's own HOME override would lead it back to the user's ~/.gemini. Relative
            # to the working directory: the model is told the CLI's temp directory, which
            # lies in it, and then learns "../home/.gemini/tmp/work", not the server's paths.
            ours["GEMINI_CLI_HOME"] = f"../{PRIVATE_HOME}"
        # A file, not argv: coding-assistant system prompts run to tens of kilobytes. With
        # none from the client, an empty one: not the CLI's 20 kB agent prompt.
        files[SYSTEM_PROMPT_FILE] = request.system_prompt or ""
        ours["GEMINI_SYSTEM_MD"] = str(workdir / SYSTEM_PROMPT_FILE)
        env = build_env(
            environ,
            prefixes=self.env_prefixes,
            defaults=self.env_defaults,
            # The configured environment wins, as everywhere; NODE_OPTIONS already holds it.
            extra={**ours, **settings.env, "NODE_OPTIONS": ours["NODE_OPTIONS"]},
            workdir=workdir,
            home=settings.home,
        )
        run_settings = cli_settings(env, private=settings.home == "private")
        generation = generation_config(request)
        if generation:
            # Applies to every model the run may use: the most specific match wins, and no
            # built-in override matches bare aliases this way.
            run_settings["modelConfigs"] = {
                "customOverrides": [
                    {"match": {"model": name}, "modelConfig": {"generateContentConfig": generation}}
                    for name in ("chat-base", model)
                ]
            }
        files[SETTINGS_FILE] = json.dumps(run_settings)
        argv = [
            settings.command,
            "--model",
            model,
            "--skip-trust",
            "--raw-output",  # the model's text as it is; the client decides how to show it
            "--extensions",
            "none",
            "--allowed-mcp-server-names",
            _NO_SUCH_NAME,
            *settings.args,
        ]
        return argv, env, files

    def parser(self, request: ChatRequest, model: str) -> GeminiParser:
        return GeminiParser()

    def auth_hint(self, env: Mapping[str, str], home: Path) -> str:
        return auth_from(
            env,
            home,
            variables=("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_APPLICATION_CREDENTIALS"),
            files=(
                ".gemini/oauth_creds.json",
                ".gemini/gemini-credentials.json",
                ".config/gcloud/application_default_credentials.json",
            ),
            otherwise="none found: set GEMINI_API_KEY",
        )


_THINKING_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}


def generation_config(request: ChatRequest) -> dict[str, Any]:
    """What the request asks of the model's generation, in Gemini's words (empty: nothing)."""
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    budget = request.thinking_budget
    if budget is None and request.reasoning_effort is not None:
        budget = _THINKING_BUDGETS.get(request.reasoning_effort, 32768)
    if budget is not None:
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget > 0}
    return config


def cli_settings(env: Mapping[str, str], *, private: bool) -> dict[str, Any]:
    """The workspace settings for one run: a model that talks, nothing that acts or lingers."""
    settings: dict[str, Any] = {
        "privacy": {"usageStatisticsEnabled": False},
        "telemetry": {"enabled": False},
        "general": {
            "enableAutoUpdate": False,
            "enableAutoUpdateNotification": False,
            # One model call per run: a 429 or 500 fails in ~2 s instead of ten attempts
            # with backoff. Clients retry themselves, with our Retry-After.
            "maxAttempts": 1,
            "retryFetchErrors": False,
        },
        # An allowlist naming no tool leaves the request without tools; a discovery command
        # from the user's settings would add some back (and run a program to find them).
        "tools": {"core": [_NO_SUCH_NAME], "discoveryCommand": ""},
        "skills": {"enabled": False},
        "hooksConfig": {"enabled": False},  # the user's hooks run shell commands per turn
        # The working directory is not the question; nor is a GEMINI.md in it, above it
        # (/tmp/GEMINI.md) or in the user's ~/.gemini: no context file has this name.
        "context": {"includeDirectoryTree": False, "fileName": _NO_SUCH_NAME},
    }
    auth = _auth_type(env, private=private)
    if auth is not None:
        settings["security"] = {"auth": {"selectedType": auth}}
    return settings


def _auth_type(env: Mapping[str, str], *, private: bool) -> str | None:
    """The CLI's auth type for the credentials in ``env``, in the CLI's own order.

    Without one in the settings, the CLI guesses from the environment, and guesses "gateway"
    (which it then rejects) whenever ``GOOGLE_GEMINI_BASE_URL`` is set. With the user's HOME
    and no hint in the environment, the user's own settings decide.
    """
    if env.get("GOOGLE_GENAI_USE_GCA") == "true":
        return "oauth-personal"
    if env.get("GOOGLE_GENAI_USE_VERTEXAI") == "true":
        return "vertex-ai"
    if env.get("GEMINI_API_KEY") or private:
        return "gemini-api-key"  # when missing, the CLI's error then names GEMINI_API_KEY
    return None


def _stop_signal(home: str) -> int:
    """SIGKILL when everything the CLI wrote goes with the run's directory anyway.

    The CLI handles SIGTERM in JavaScript, so while it is busy starting up (the first second
    and a half of every run) a SIGTERM waits up to ~0.4 s for its event loop. With the user's
    HOME it deserves that wait: its exit handlers release the lock it takes on
    ~/.gemini/projects.json, which other runs would otherwise wait ten seconds to break.
    """
    return signal.SIGKILL if home == "private" else signal.SIGTERM


@attrs.frozen
class _Outcome:
    """A ``result`` line reporting an error, held until the exit status is known."""

    message: str
    error_type: str | None


class GeminiParser:
    """Reads ``stream-json`` lines: assistant deltas, then one ``result``.

    A failed model call is reported only once the CLI has exited, because the exit status is
    where the CLI keeps the HTTP status (``process.exit(status)``, so modulo 256). The tap's
    line for the call, before any of that, holds the backend's ``Retry-After``.
    """

    def __init__(self) -> None:
        self._retry_after: float | None = None  # the last model call's, from the tap
        self._error_event: str | None = None
        self._failure: _Outcome | None = None
        self._said_anything = False
        self._done = False

    def feed(self, line: bytes) -> list[Event]:
        try:
            data = line_json(line)
        except ValueError:
            return []  # a slash command's or a warning's plain text
        if not isinstance(data, dict):
            return []
        kind = data.get("type")
        if kind == TAP_LINE:
            self._retry_after = retry_after_seconds(data.get("retry_after"))
            return []
        if kind == "message" and data.get("role") == "assistant":
            content = data.get("content")
            if not isinstance(content, str) or not content:
                return []
            self._said_anything = True
            return [TextDelta(content)]
        if kind == "error" and data.get("severity") == "error":
            self._error_event = str(data.get("message") or "")
        elif kind == "result" and not self._done:
            return self._result(data)
        return []

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            error = _api_error(failure, returncode)
            return [Failed(with_retry_after(error, self._retry_after))]
        if self._done:
            return []
        self._done = True
        return [Failed(_exit_error(returncode, stderr_tail))]

    def _result(self, data: dict[str, Any]) -> list[Event]:
        self._done = True
        stats = data.get("stats") or {}
        usage = _usage(stats)
        if data.get("status") == "success":
            if not self._said_anything and not stats.get("models"):
                # No model was called: the CLI's own estimate said the prompt cannot fit
                # the context window, and it reports that as a silent success.
                return [Failed(classify(400, None, _NOT_SENT))]
            return [usage, Finished(FinishReason.STOP)]
        error = data.get("error")
        if isinstance(error, dict):
            self._failure = _Outcome(
                str(error.get("message") or "gemini reported an error"),
                str(error["type"]) if error.get("type") else None,
            )
            return []
        # A reply the CLI found unusable: no text, only thoughts, or cut off before any text.
        message = self._error_event or "The model's reply could not be used."
        if message.startswith("Model response was truncated"):
            return [usage, Finished(FinishReason.LENGTH)]
        return [Failed(classify(None, None, message))]


_NOT_SENT = (
    "The prompt was not sent: by Gemini CLI's estimate it exceeds the model's context window."
)
_API_ERROR = re.compile(r"\[API Error: (?P<inner>.*)\]", re.S)
_NOT_FOUND = re.compile(r"is not found for API version|Requested entity was not found")
_EXIT_STATUS = {
    41: ErrorKind.CLI_LOGGED_OUT,  # no usable credentials (FatalAuthenticationError)
    42: ErrorKind.INVALID_REQUEST,  # the prompt could not be read (FatalInputError)
}


def _api_error(outcome: _Outcome, returncode: int) -> ApiError:
    """The error for a ``result`` line, with the status from Google's body or the exit."""
    match = _API_ERROR.match(outcome.message)
    inner = match["inner"] if match else outcome.message  # without the CLI's advice after it
    body = _google_error(inner)
    status: int | None = None
    if body is not None:
        status = body["code"] if isinstance(body.get("code"), int) else None
        inner = str(body.get("message") or inner)
        if body.get("status"):
            inner += f" ({body['status']})"
    if status is None and 144 <= returncode <= 255:
        status = returncode + 256  # process.exit(429) is seen as 173
    if "API key not valid" in inner:
        status = 401  # Google answers a bad key with 400 INVALID_ARGUMENT
    elif status is None and _NOT_FOUND.search(inner):
        status = 404  # the CLI exits 1 for an unknown model
    message = f"Gemini API error: {inner}"
    if status is None and returncode in _EXIT_STATUS:
        return ApiError(_EXIT_STATUS[returncode], sanitize(message))
    return classify(status, outcome.error_type, message)


def _google_error(text: str) -> dict[str, Any] | None:
    """Google's ``{"error": {...}}`` body, when the message is one."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        body, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _exit_error(returncode: int, stderr_tail: str) -> ApiError:
    """The CLI exited without a ``result`` line."""
    detail = sanitize(stderr_tail) or "no output"
    kind = _EXIT_STATUS.get(returncode, ErrorKind.CLI_FAILED)
    return ApiError(kind, f"gemini exited with status {returncode} before it answered: {detail}")


def _usage(stats: dict[str, Any]) -> Usage:
    """Token counts from the result's stats (all model calls of the run, summed).

    ``input_tokens`` there counts cached tokens too (``input`` does not), and
    ``output_tokens`` leaves out the thoughts, which ``total_tokens`` includes and which are
    billed as output.
    """
    prompt = int(stats.get("input_tokens") or 0)
    cached = int(stats.get("cached") or 0)
    output = int(stats.get("output_tokens") or 0)
    total = int(stats.get("total_tokens") or 0)
    return Usage(
        input_tokens=int(stats.get("input") or max(0, prompt - cached)),
        output_tokens=max(output, total - prompt),
        cache_read_tokens=cached,
    )
