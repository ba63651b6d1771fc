"""The client side of the Agent Client Protocol (ACP), sans-IO: one agent process, one
session, many turns.

Gemini CLI and Qwen Code started with ``--acp`` are ACP agents: JSON-RPC 2.0, one JSON
object per line on stdin and stdout. :class:`AcpClient` is the client half as a small state
machine in the manner of h11 and of :class:`~cliwrap.providers.codex.CodexParser`: the
caller feeds it the agent's stdout lines (:meth:`~AcpClient.feed` returns the events they
mean) and writes what :meth:`~AcpClient.to_send` hands back; the client does no I/O. It
opens the session itself (``initialize``, then ``session/new``, ``session/load`` or
``session/resume``), sends one ``session/prompt`` per :meth:`~AcpClient.prompt`, and turns
the ``session/update`` notifications of that turn into cliwrap's events, ending each turn
with exactly one outcome (:class:`Finished` or :class:`Failed`). Measured facts behind the
choices (docs/cli-sessions.md):

- Nothing the agent asks of the client may hang it: a permission request is answered with
  the agent's own "reject" option (or "cancelled"), file system and terminal requests (never
  offered in ``initialize``) with a JSON-RPC error.
- A cancelled turn is over for its caller at once: :meth:`~AcpClient.cancel` returns its
  outcome, and the agent's late answer (``stopReason: "cancelled"``, 12 to 30 ms later, but
  only after a retry backoff ends when Qwen Code is waiting out a ``Retry-After``) is
  drained here. A next prompt given meanwhile waits for it: Gemini CLI aborts a running
  prompt when another arrives for the session.
- Neither agent reports why an answer ended beyond ``stopReason`` (an answer cut by the
  output limit ends ``end_turn``), and Qwen Code retries failed model calls by itself, for
  minutes. The model-call tap cliwrap preloads into Qwen Code (its ``cliwrap_model_call``
  lines among the JSON-RPC ones, providers/base.py) says what the protocol does not: the
  first failed call fails the turn and cancels it (one model call per turn, as everywhere
  in cliwrap); a call cut at the output limit, which Qwen Code would re-request and
  "continue", ends the turn with ``length``.
- Gemini CLI sends its errors as the prompt's JSON-RPC error with the HTTP status as the
  code (429, 500); Qwen Code as ``-32603`` with ``"data": {"details": "500 ..."}``.
- Gemini CLI answers ``session/load`` before its replay of the stored turns is over (it
  does not wait for it), so a prompt sent at once would have replayed text among its own.
  The replay is over when its ``available_commands_update`` arrives (queued behind the
  replay with ``setTimeout``; with the provider's blocking-stdio preload every replayed line
  is written before it): after a load, Gemini CLI's first prompt waits for that. Qwen Code
  replays before it answers.
- Usage: Gemini CLI puts the turn's token counts in the prompt result's
  ``_meta.quota.token_count`` (no cached count); Qwen Code in ``_meta.usage`` of an empty
  ``agent_message_chunk`` after each model call (with ``cachedReadTokens``).
- A prompt whose leading text starts with ``/`` (or ``$``) is run as one of the CLI's own
  commands when it names one (Gemini CLI answered ``/about`` itself, Qwen Code refused
  ``/help``): such a prompt gets an invisible U+200B in front, which the CLIs' command
  check does not trim.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind, sanitize
from ..core.events import Event, Failed, Finished, FinishReason, TextDelta, ThinkingDelta, Usage
from ..core.images import label
from ..core.request import ChatRequest, Message
from ..semantics.transcript import render_prompt, turn_texts
from .base import TAP_LINE, line_json
from .failures import (
    classify,
    openai_error_fields,
    retry_after_seconds,
    tap_call_error,
    with_retry_after,
)

__all__ = [
    "PROTOCOL_VERSION",
    "AcpClient",
    "AcpSession",
    "AcpStart",
    "AcpTurn",
    "LoadSession",
    "NewSession",
    "ResumeSession",
    "image_block",
    "text_block",
]

PROTOCOL_VERSION = 1
"""The ACP version both pinned agents answer ``initialize`` with."""

CANCELLED = "The turn was cancelled."
"""The message of a turn's outcome when its caller cancelled it."""


@attrs.frozen
class NewSession:
    """Open a fresh session (``session/new``)."""

    meta: Mapping[str, Any] | None = None
    """``_meta`` of the request. Qwen Code takes a session id of the caller's choosing as
    ``{"qwen-code/sessionId": "<uuid>"}``; Gemini CLI always picks its own."""


@attrs.frozen
class LoadSession:
    """Continue a session from the agent's store (``session/load``). The agent replays the
    stored turns as updates first (not events of any turn); its model then sees them as
    turns of their own."""

    session_id: str


@attrs.frozen
class ResumeSession:
    """Continue a stored session without the replay (Qwen Code's ``session/resume``)."""

    session_id: str


AcpStart = NewSession | LoadSession | ResumeSession


def text_block(text: str) -> dict[str, Any]:
    """An ACP text content block."""
    return {"type": "text", "text": text}


def image_block(media_type: str, data: str) -> dict[str, Any]:
    """An ACP image content block (``data``: the image, base64-encoded)."""
    return {"type": "image", "mimeType": media_type, "data": data}


@attrs.define
class _Turn:
    """One prompt, from :meth:`AcpClient.prompt` until the agent has answered it."""

    blocks: list[dict[str, Any]]
    request_id: int | None = None
    """Its ``session/prompt``'s id, once sent."""
    over: bool = False
    """Its outcome went out (a cancel, a failed model call): the agent's answer is drained."""
    cut: bool = False
    """A model call hit the output limit; the turn is being cancelled and ends with length."""
    calls_after_cut: int = 0
    usage: Usage | None = None
    """From the chunks' ``_meta.usage`` (Qwen Code), summed over the turn's model calls."""


_GEMINI_CLI = "gemini-cli"
"""Gemini CLI's ``agentInfo.name``."""
_ZERO_WIDTH_SPACE = "\u200b"
_EMPTY_SUBJECT = "****\n"
"""What Gemini CLI puts before every thought chunk whose summary has no bold subject."""
_STATUS_FIRST = re.compile(r"(\d{3})\b\s*(.*)", re.S)
_FINISH_REASONS = {
    "end_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "max_turn_requests": FinishReason.STOP,
    "refusal": FinishReason.CONTENT_FILTER,
}


class AcpClient:
    """The client half of one ACP agent process: one session, one turn at a time.

    It sends ``initialize`` at once and the session request after it. :meth:`prompt` may be
    called before the session is open; the prompt goes out as soon as it is. Events of a
    turn come from :meth:`feed` (and :meth:`cancel`, :meth:`finish`, :meth:`prompt` when the
    turn is over at once), ending with one :class:`Finished` or :class:`Failed`; lines
    between turns give none. ``agent`` names the CLI in error messages.
    """

    def __init__(
        self,
        cwd: str,
        start: AcpStart | None = None,
        *,
        agent: str = "agent",
        retries: bool = True,
    ) -> None:
        self._cwd = cwd
        self._start = start or NewSession()
        self._agent = agent
        self._outbox: list[bytes] = []
        self._retries = retries
        """Whether the agent retries a failed model call by itself (Qwen Code): then the
        tap's first failed call ends the turn. Gemini CLI tries once and answers the prompt
        with the error, body and all; its tap adds only the ``Retry-After``."""
        self._retry_after: float | None = None
        self._ids = itertools.count(1)
        self._initialize_id = self._request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                # No file system, no terminal: the agent uses neither of ours.
                "clientCapabilities": {
                    "fs": {"readTextFile": False, "writeTextFile": False},
                    "terminal": False,
                },
            },
        )
        self._session_request_id: int | None = None
        self._agent_name: str | None = None
        self._session_id: str | None = None
        self._replaying = False
        """Gemini CLI still replays a loaded session: prompts wait."""
        self._broken: ApiError | None = None
        self._exited = False
        self._closing = False
        self._turn: _Turn | None = None
        self._next: _Turn | None = None
        """A prompt given while a cancelled turn drains; it goes out after."""

    # What the caller asks

    @property
    def session_id(self) -> str | None:
        """The session's id, once the agent has opened (or loaded) it."""
        return self._session_id

    @property
    def busy(self) -> bool:
        """A turn was prompted and its outcome has not gone out yet."""
        return self._next is not None or (self._turn is not None and not self._turn.over)

    @property
    def draining(self) -> bool:
        """A turn whose outcome went out (cancelled, failed) still runs in the agent."""
        return self._turn is not None and self._turn.over

    @property
    def idle(self) -> bool:
        """The session is open and nothing runs: a prompt would go out at once."""
        return (
            self._session_id is not None
            and not self._replaying
            and self._turn is None
            and self._broken is None
            and not self._exited
        )

    def prompt(self, blocks: Sequence[Mapping[str, Any]]) -> list[Event]:
        """Start a turn with these content blocks (:func:`text_block`, :func:`image_block`).

        Returns the turn's outcome if it cannot run (the session did not open, the agent
        exited), else nothing: its events come from :meth:`feed`. Only one turn runs at a
        time; while a cancelled one drains, the next waits for it.
        """
        if self._closing:
            raise RuntimeError("prompt() after close()")
        if self.busy:
            raise RuntimeError("prompt() while a turn is running")
        if self._exited:
            return [Failed(self._exit_error(None, ""))]
        if self._broken is not None:
            return [Failed(self._broken)]
        turn = _Turn(_guarded(blocks))
        if self._turn is not None:  # a cancelled turn still drains
            self._next = turn
        else:
            self._turn = turn
            self._send_prompt()
        return []

    def cancel(self) -> list[Event]:
        """Give up the running turn: its outcome now; the agent's answer is drained later.

        Nothing happens when no turn is running.
        """
        if self._next is not None:  # not sent yet
            self._next = None
            return [Failed(ApiError(ErrorKind.CLI_FAILED, CANCELLED))]
        turn = self._turn
        if turn is None or turn.over:
            return []
        if turn.request_id is None:  # the session is still opening
            self._turn = None
        else:
            self._drain(turn)
        return [Failed(ApiError(ErrorKind.CLI_FAILED, CANCELLED))]

    def close(self) -> None:
        """No more turns: once what is queued has gone out, :meth:`to_send` says to close
        stdin, which ends the agent."""
        self._closing = True

    # The Dialogue protocol (providers/base.py)

    def to_send(self) -> bytes | None:
        """What to write to the agent's stdin now (``b""``: nothing); None: close stdin."""
        out, self._outbox = b"".join(self._outbox), []
        if not out and self._closing:
            return None
        return out

    def feed(self, line: bytes) -> list[Event]:
        """One line of the agent's stdout: the events it means for the running turn."""
        try:
            message = line_json(line)
        except ValueError:
            return []
        if not isinstance(message, dict):
            return []
        if message.get("type") == TAP_LINE:
            return self._model_call(message)
        if "method" in message:
            if "id" in message:
                self._answer(message)
                return []
            if message["method"] == "session/update":
                return self._update(message.get("params") or {})
            return []  # another notification (Qwen Code's own extensions)
        if "id" in message:
            return self._response(message)
        return []

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        """The agent exited: the running turn (if any) failed."""
        self._exited = True
        turn = self._next or (self._turn if self._turn and not self._turn.over else None)
        self._turn = self._next = None
        return [Failed(self._exit_error(returncode, stderr_tail))] if turn is not None else []

    # Requests and answers

    def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=False)
        self._outbox.append(data.encode() + b"\n")

    def _request(self, method: str, params: dict[str, Any]) -> int:
        request_id = next(self._ids)
        self._write({"id": request_id, "method": method, "params": params})
        return request_id

    def _answer(self, request: dict[str, Any]) -> None:
        """The agent asks something of the client: refuse, so that nothing waits on us."""
        method = str(request["method"])
        params = request.get("params") or {}
        if method == "session/request_permission":
            options = params.get("options") if isinstance(params, dict) else None
            reject = next(
                (
                    option["optionId"]
                    for option in options or []
                    if isinstance(option, dict)
                    and str(option.get("kind", "")).startswith("reject")
                    and "optionId" in option
                ),
                None,
            )
            outcome = (
                {"outcome": "selected", "optionId": reject}
                if reject is not None
                else {"outcome": "cancelled"}
            )
            self._write({"id": request["id"], "result": {"outcome": outcome}})
            return
        error = {"code": -32601, "message": f"cliwrap's client does not offer {method}"}
        self._write({"id": request["id"], "error": error})

    def _response(self, message: dict[str, Any]) -> list[Event]:
        request_id = message.get("id")
        error = message.get("error")
        if request_id == self._initialize_id:
            if error is not None:
                return self._opening_failed(error)
            info = (message.get("result") or {}).get("agentInfo") or {}
            self._agent_name = str(info.get("name")) if isinstance(info, dict) else None
            self._open_session()
            return []
        if request_id == self._session_request_id:
            if error is not None:
                return self._opening_failed(error)
            result = message.get("result") or {}
            if isinstance(self._start, NewSession):
                session_id = result.get("sessionId") if isinstance(result, dict) else None
                if not isinstance(session_id, str):
                    return self._opening_failed({"message": "session/new gave no sessionId"})
                self._session_id = session_id
            else:
                self._session_id = self._start.session_id
                self._replaying = (
                    isinstance(self._start, LoadSession) and self._agent_name == _GEMINI_CLI
                )
            self._send_prompt()
            return []
        turn = self._turn
        if turn is None or request_id != turn.request_id:
            return []
        events = self._turn_answered(turn, message)
        self._turn, self._next = self._next, None
        self._send_prompt()
        return events

    def _open_session(self) -> None:
        start = self._start
        params: dict[str, Any] = {"cwd": self._cwd, "mcpServers": []}
        if isinstance(start, NewSession):
            if start.meta:
                params["_meta"] = dict(start.meta)
            self._session_request_id = self._request("session/new", params)
        elif isinstance(start, LoadSession):
            params["sessionId"] = start.session_id
            self._session_request_id = self._request("session/load", params)
        else:
            params["sessionId"] = start.session_id
            self._session_request_id = self._request("session/resume", params)

    def _opening_failed(self, error: Any) -> list[Event]:
        self._broken = _rpc_error(error, self._agent, "could not open its session")
        turn, self._turn, self._next = self._turn, None, None
        return [Failed(self._broken)] if turn is not None else []

    def _send_prompt(self) -> None:
        turn = self._turn
        if (
            turn is None
            or turn.request_id is not None
            or self._session_id is None
            or self._replaying
        ):
            return
        params = {"sessionId": self._session_id, "prompt": turn.blocks}
        turn.request_id = self._request("session/prompt", params)

    def _drain(self, turn: _Turn) -> None:
        """The turn's outcome has gone out: stop the agent's work on it."""
        turn.over = True
        self._write({"method": "session/cancel", "params": {"sessionId": self._session_id}})

    # What a turn says

    def _update(self, params: dict[str, Any]) -> list[Event]:
        update = params.get("update") or {}
        kind = update.get("sessionUpdate")
        if (
            self._replaying
            and kind == "available_commands_update"
            and params.get("sessionId") == self._session_id
        ):
            self._replaying = False  # the loaded session's replay is over
            self._send_prompt()
            return []
        turn = self._turn
        if (
            turn is None
            or turn.request_id is None  # a loaded session's replay, before any turn
            or turn.over
            or params.get("sessionId") != self._session_id
        ):
            return []
        content = update.get("content") or {}
        text = content.get("text") if isinstance(content, dict) else None
        if kind == "agent_message_chunk":
            meta = update.get("_meta") or {}
            usage = meta.get("usage") if isinstance(meta, dict) else None
            if isinstance(usage, dict):
                call = _chunk_usage(usage)
                turn.usage = call if turn.usage is None else turn.usage + call
            if isinstance(text, str) and text and not (turn.cut and turn.calls_after_cut):
                return [TextDelta(text)]
        elif kind == "agent_thought_chunk" and isinstance(text, str):
            text = text.removeprefix(_EMPTY_SUBJECT)
            if text and not (turn.cut and turn.calls_after_cut):
                return [ThinkingDelta(text)]
        return []

    def _model_call(self, call: dict[str, Any]) -> list[Event]:
        """A line of cliwrap's model-call tap (Qwen Code): the first failed call fails the
        turn; a call cut at the output limit ends it, without the CLI's continuation."""
        turn = self._turn
        if turn is None or turn.request_id is None or turn.over:
            return []
        if turn.cut:
            turn.calls_after_cut += 1  # what streams now is the CLI's re-request
            return []
        status = call.get("status")
        if call.get("error") or (isinstance(status, int) and status >= 400):
            if not self._retries:
                self._retry_after = retry_after_seconds(call.get("retry_after"))
                return []
            self._drain(turn)
            return [Failed(tap_call_error(call))]
        if call.get("finish_reason") == "length":
            turn.cut = True
            self._write({"method": "session/cancel", "params": {"sessionId": self._session_id}})
        return []

    def _turn_answered(self, turn: _Turn, message: dict[str, Any]) -> list[Event]:
        """The agent's answer to the turn's ``session/prompt``: its outcome, unless it went
        out already."""
        if turn.over:
            return []
        error = message.get("error")
        result = message.get("result")
        result = result if isinstance(result, dict) else {}
        usage = _result_usage(result) or turn.usage
        done: list[Event] = [usage] if usage is not None else []
        if turn.cut:
            return [*done, Finished(FinishReason.LENGTH)]
        if error is not None:
            failure = _rpc_error(error, self._agent, "failed")
            retry_after, self._retry_after = self._retry_after, None
            return [Failed(with_retry_after(failure, retry_after))]
        reason = str(result.get("stopReason") or "end_turn")
        if reason == "cancelled":
            message_ = f"{self._agent} cancelled the turn by itself"
            return [Failed(ApiError(ErrorKind.CLI_FAILED, message_))]
        return [*done, Finished(_FINISH_REASONS.get(reason, FinishReason.STOP))]

    def _exit_error(self, returncode: int | None, stderr_tail: str) -> ApiError:
        detail = sanitize(stderr_tail) or "no output"
        status = "" if returncode is None else f" with status {returncode}"
        return ApiError(ErrorKind.CLI_FAILED, f"{self._agent} exited{status}: {detail}")


def _guarded(blocks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The blocks, with a U+200B before leading text that the CLI would run as a command."""
    out = [dict(block) for block in blocks]
    leading = ""
    for block in out:
        if block.get("type") != "text":
            break
        leading += str(block.get("text") or "")
    if leading.lstrip().startswith(("/", "$")):
        first = next(block for block in out if block.get("text"))
        first["text"] = _ZERO_WIDTH_SPACE + str(first["text"])
    return out


def _rpc_error(error: Any, agent: str, what: str) -> ApiError:
    """The typed error for a JSON-RPC error answer.

    Gemini CLI's code is the HTTP status of the failed model call; Qwen Code's is -32603
    ("Internal error") with the status first in ``data.details``. The text may be the
    backend's JSON error body, whose message is what counts.
    """
    if not isinstance(error, dict):
        error = {"message": str(error)}
    code = error.get("code")
    data = error.get("data")
    details = data.get("details") if isinstance(data, dict) else None
    text = str(details or error.get("message") or "no message")
    status = code if isinstance(code, int) and 100 <= code <= 599 else None
    if status is None and (match := _STATUS_FIRST.fullmatch(text)):
        status, text = int(match[1]), match[2]
    message, error_type, _ = openai_error_fields(text)
    return classify(status, error_type, f"{agent} {what}: {message}")


def _chunk_usage(usage: Mapping[str, Any]) -> Usage:
    """One model call's counts from Qwen Code's ``_meta.usage``; ``inputTokens`` counts
    the cached ones too."""
    prompt = int(usage.get("inputTokens") or 0)
    cached = int(usage.get("cachedReadTokens") or 0)
    return Usage(
        input_tokens=max(0, prompt - cached),
        output_tokens=int(usage.get("outputTokens") or 0),
        cache_read_tokens=cached,
    )


def _result_usage(result: Mapping[str, Any]) -> Usage | None:
    """The turn's counts from Gemini CLI's prompt result (``_meta.quota.token_count``)."""
    meta = result.get("_meta")
    quota = meta.get("quota") if isinstance(meta, dict) else None
    counts = quota.get("token_count") if isinstance(quota, dict) else None
    if not isinstance(counts, dict):
        return None
    usage = Usage(
        input_tokens=int(counts.get("input_tokens") or 0),
        output_tokens=int(counts.get("output_tokens") or 0),
    )
    return usage if usage.input_tokens or usage.output_tokens else None


class AcpSession:
    """A Gemini CLI or Qwen Code process in ACP mode, kept across a conversation's turns
    (the :class:`~cliwrap.providers.base.LiveSession` of both): one ACP session, one
    ``session/prompt`` per turn.

    A history to seed goes into the first turn as a transcript: both CLIs can load a session
    file cliwrap would write (docs/cli-sessions.md), but Gemini CLI's own clean-up deletes a
    loaded session at its next start unless several settings and file names are just so; the
    turns after the first are the CLI's own either way.
    """

    def __init__(
        self, cwd: str, agent: str, seed: Sequence[Message] = (), *, retries: bool = True
    ) -> None:
        self.client = AcpClient(cwd, NewSession(), agent=agent, retries=retries)
        self._seed = tuple(seed)

    def opening(self) -> bytes:
        """What the process is sent as it starts (``initialize``)."""
        return self.client.to_send() or b""

    def turn(self, request: ChatRequest, new: tuple[Message, ...]) -> tuple[bytes, AcpTurn]:
        if self._seed:
            texts = [render_prompt((*self._seed, *new))]
            self._seed = ()
        else:
            texts = turn_texts(new)
        blocks: list[dict[str, Any]] = []
        for number, image in request.new_images():
            blocks += [text_block(label(number)), image_block(image.media_type, image.base64)]
        blocks += [text_block(text) for text in texts]
        refused = self.client.prompt(blocks)
        for event in refused:
            if isinstance(event, Failed):
                raise event.error
        return self.client.to_send() or b"", AcpTurn(self.client)

    def interrupt(self) -> bytes:
        """``session/cancel``; the agent's ``cancelled`` answer ends the turn."""
        self.client.cancel()
        return self.client.to_send() or b""


class AcpTurn:
    """One turn of an :class:`AcpSession`, as the job reads it."""

    def __init__(self, client: AcpClient) -> None:
        self._client = client

    @property
    def turn_over(self) -> bool:
        """The agent answered the turn's prompt (a cancelled one's too)."""
        return not self._client.busy and not self._client.draining

    def feed(self, line: bytes) -> list[Event]:
        return self._client.feed(line)

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        return self._client.finish(returncode, stderr_tail)

    def to_send(self) -> bytes | None:
        return self._client.to_send() or b""
