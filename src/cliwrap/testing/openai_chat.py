"""A stub of the OpenAI Chat Completions API (``POST /v1/chat/completions``), streaming and not.

It answers as OpenAI-compatible backends do: in a stream, ``chat.completion.chunk`` events
with the reasoning first as ``reasoning_content`` deltas (the way DashScope's Qwen models send
their thinking), then the content, a last chunk with the finish reason, a usage chunk when
``stream_options.include_usage`` asks for one, and ``data: [DONE]``. It fails as they fail:
OpenAI's error body (``{"error": {"message", "type", "param", "code"}}``) with the type and
code OpenAI uses for the status, ``retry-after`` when the directive gives one, OpenAI's own
wording for a prompt over the context window, a reset connection. What it does is read from
directives in the prompt (:mod:`cliwrap.testing.directives`). Given a
:class:`~cliwrap.testing.prompt_cache.PromptCache`, it caches prompt prefixes as OpenAI does on
its own, and counts the cached tokens in ``prompt_tokens_details.cached_tokens``.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from .directives import Plan, read_plan, split
from .http import DROP, Recorded, Response, Step
from .openai_errors import openai_error, openai_failure
from .prompt_cache import CacheUsage, Prompt, PromptCache

__all__ = ["cache_prompt", "handle_chat_completions", "user_text"]

_OVERFLOW = (
    "This model's maximum context length is 131072 tokens. However, your messages resulted "
    "in 250000 tokens. Please reduce the length of the messages."
)
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}
_SSE = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))
_ids = itertools.count(1)


def user_text(messages: Any, role: str = "user") -> str:
    """All text of ``role``'s turns in a list of chat messages, in order (string or
    text-part content)."""
    texts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict) or message.get("role") != role:
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(
                str(part.get("text", ""))
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
    return "\n".join(texts)


def cache_prompt(body: dict[str, Any]) -> Prompt:
    """The prompt as OpenAI's cache reads it: the tools, then the messages."""
    return Prompt.of([*(body.get("tools") or []), *(body.get("messages") or [])])


def handle_chat_completions(request: Recorded, cache: PromptCache | None = None) -> Response:
    if request.method != "POST" or request.path.rstrip("/") != "/v1/chat/completions":
        return openai_error(404, f"no route {request.method} {request.path}")
    body = request.body if isinstance(request.body, dict) else {}
    messages = body.get("messages")
    plan = read_plan(user_text(messages), user_text(messages, "assistant"))
    hold: list[Step] = [plan.hold] if plan.hold else []
    if plan.overflow:
        error = openai_error(400, _OVERFLOW, param="messages", code="context_length_exceeded")
        return Response(400, error.headers, [*hold, *error.steps])
    if plan.fail_status is not None:
        error = openai_failure(plan.fail_status, plan.retry_after)
        return Response(error.status, error.headers, [*hold, *error.steps])
    prompt = cache_prompt(body)
    scope = [str(body.get("model")), str(body.get("prompt_cache_key") or "")]
    usage = cache.prefix("chat", scope, prompt) if cache else prompt.uncached()
    completion = _Completion(plan, body, next(_ids), usage)
    if body.get("stream"):
        return Response(200, _SSE, [*hold, *completion.stream()])
    if plan.drop and not plan.drop_stream_only:
        return Response(200, (("content-type", "application/json"),), [*hold, DROP])
    whole = Response.json(200, completion.whole())
    return Response(200, whole.headers, [*hold, *whole.steps])


class _Completion:
    """One answer to ``plan``, as a whole ``chat.completion`` or as a stream of chunks."""

    def __init__(self, plan: Plan, body: dict[str, Any], serial: int, prompt: CacheUsage) -> None:
        self.plan = plan
        self.id = f"chatcmpl-stub{serial:06d}"
        self.model = str(body.get("model") or "stub-model")
        self.created = int(time.time())
        self.include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        completion_tokens = max(1, (len(plan.reply) + len(plan.thinking)) // 4)
        self.usage: dict[str, Any] = {
            "prompt_tokens": prompt.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt.prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": prompt.cached_tokens},
        }
        if plan.thinking:
            self.usage["completion_tokens_details"] = {
                "reasoning_tokens": max(1, len(plan.thinking) // 4)
            }
        self.finish_reason = _FINISH.get(plan.stop_reason, "stop")

    def whole(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.plan.reply}
        if self.plan.thinking:
            message["reasoning_content"] = self.plan.thinking
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": self.usage,
        }

    def stream(self) -> list[Step]:
        plan = self.plan
        deltas: list[dict[str, Any]] = []
        if plan.thinking:
            deltas += [{"reasoning_content": p} for p in split(plan.thinking, plan.chunk)]
        deltas += [{"content": piece} for piece in split(plan.reply, plan.chunk)]
        steps: list[Step] = [self._chunk({"role": "assistant", "content": ""})]
        for count, delta in enumerate(deltas, 1):
            if plan.delay:
                steps.append(plan.delay)
            steps.append(self._chunk(delta))
            if plan.drop and count == 2:
                return [*steps, DROP]
        steps.append(self._chunk({}, self.finish_reason))
        if self.include_usage:
            steps.append(self._sse({**self._head(), "choices": [], "usage": self.usage}))
        steps.append(b"data: [DONE]\n\n")
        return steps

    def _head(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._sse({**self._head(), "choices": [choice]})

    @staticmethod
    def _sse(data: dict[str, Any]) -> bytes:
        return f"data: {json.dumps(data)}\n\n".encode()
