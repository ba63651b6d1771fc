"""A stub of the OpenAI Responses API (``POST /v1/responses``), streaming and not.

It answers as the real API does: a response object that goes ``in_progress`` ─► ``completed``
(or ``incomplete`` when the output limit cut it short), its output items announced, filled by
deltas and closed one by one, reasoning as a ``reasoning`` item whose summary streams as
``response.reasoning_summary_text.delta``, and the usage on the final event. It fails as the
real API fails: OpenAI's error body, ``retry-after`` on 429, ``context_length_exceeded`` for a
prompt too long, a reset connection. What it does is read from directives in the prompt
(:mod:`cliwrap.testing.directives`). Given a :class:`~cliwrap.testing.prompt_cache.PromptCache`,
it caches prompt prefixes as OpenAI does on its own, and counts the cached tokens in
``input_tokens_details.cached_tokens``.
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

__all__ = ["cache_prompt", "handle_responses", "prompt_text"]

_OVERFLOW = (
    "Your input exceeds the context window of this model. Please adjust your input and try again."
)
_SSE = (("content-type", "text/event-stream"), ("cache-control", "no-cache"))
_ids = itertools.count(1)


def handle_responses(request: Recorded, cache: PromptCache | None = None) -> Response:
    if request.method != "POST" or request.path.rstrip("/") != "/v1/responses":
        return openai_error(404, f"no route {request.method} {request.path}")
    body = request.body if isinstance(request.body, dict) else {}
    plan = read_plan(prompt_text(body), prompt_text(body, "assistant"))
    hold: list[Step] = [plan.hold] if plan.hold else []
    if plan.overflow:
        error = openai_error(400, _OVERFLOW, param="input", code="context_length_exceeded")
        return Response(400, error.headers, [*hold, *error.steps])
    if plan.fail_status is not None:
        error = openai_failure(plan.fail_status, plan.retry_after)
        return Response(error.status, error.headers, [*hold, *error.steps])
    serial = next(_ids)
    prompt = cache_prompt(body)
    scope = [str(body.get("model")), str(body.get("prompt_cache_key") or "")]
    usage = cache.prefix("responses", scope, prompt) if cache else prompt.uncached()
    response = _Response(plan, body, serial, usage)
    if not body.get("stream"):
        if plan.drop and not plan.drop_stream_only:
            return Response(200, (("content-type", "application/json"),), [*hold, DROP])
        done = Response.json(200, response.final())
        return Response(200, done.headers, [*hold, *done.steps])
    return Response(200, _SSE, [*hold, *response.events()])


def cache_prompt(body: dict[str, Any]) -> Prompt:
    """The prompt as OpenAI's cache reads it: the tools, the instructions, then the input
    items without their ids (labels for the API, never shown to the model)."""
    items = body.get("input")
    inputs = [items] if isinstance(items, str) else items or []
    instructions = [body["instructions"]] if body.get("instructions") else []
    parts = [*(body.get("tools") or []), *instructions]
    parts += [
        {k: v for k, v in item.items() if k != "id"} if isinstance(item, dict) else item
        for item in inputs
    ]
    return Prompt.of(parts)


def prompt_text(body: Any, role: str = "user") -> str:
    """All text of ``role``'s messages in a Responses request's ``input``, in order."""
    items = body.get("input") if isinstance(body, dict) else None
    if isinstance(items, str):
        return items if role == "user" else ""
    part_type = "input_text" if role == "user" else "output_text"
    texts: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or item.get("role") != role:
            continue
        content = item.get("content")
        if isinstance(content, str):
            texts.append(content)
        else:
            texts.extend(
                str(part.get("text", ""))
                for part in content or []
                if isinstance(part, dict) and part.get("type") == part_type
            )
    return "\n".join(texts)


class _Response:
    """One response object, and the events that build it up on the wire."""

    def __init__(self, plan: Plan, body: dict[str, Any], serial: int, prompt: CacheUsage) -> None:
        self.plan = plan
        self.body = body
        self.id = f"resp_stub{serial:06d}"
        self.reasoning_id = f"rs_stub{serial:06d}"
        self.message_id = f"msg_stub{serial:06d}"
        self.created_at = int(time.time())
        self.prompt = prompt
        self._sequence = itertools.count()

    @property
    def incomplete(self) -> bool:
        return self.plan.stop_reason == "max_tokens"

    def final(self) -> dict[str, Any]:
        """The response as ``response.completed`` (or ``response.incomplete``) carries it."""
        reasoning_tokens = max(1, len(self.plan.thinking) // 4) if self.plan.thinking else 0
        output_tokens = max(1, len(self.plan.reply) // 4) + reasoning_tokens
        return self._object(
            "incomplete" if self.incomplete else "completed",
            [item for _, item in self._items()],
            usage={
                "input_tokens": self.prompt.prompt_tokens,
                "input_tokens_details": {"cached_tokens": self.prompt.cached_tokens},
                "output_tokens": output_tokens,
                "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
                "total_tokens": self.prompt.prompt_tokens + output_tokens,
            },
        )

    def events(self) -> list[Step]:
        plan = self.plan
        steps: list[Step] = [
            self._sse("response.created", response=self._object("in_progress", [])),
            self._sse("response.in_progress", response=self._object("in_progress", [])),
        ]
        deltas = 0
        for index, (kind, item) in enumerate(self._items()):
            empty = {**item, "summary": []} if kind == "reasoning" else {**item, "content": []}
            if kind == "message":
                empty["status"] = "in_progress"
            steps.append(self._sse("response.output_item.added", output_index=index, item=empty))
            where = {"item_id": item["id"], "output_index": index}
            if kind == "reasoning":
                part, text = "summary_text", plan.thinking
                added, delta, text_done, part_done = (
                    "response.reasoning_summary_part.added",
                    "response.reasoning_summary_text.delta",
                    "response.reasoning_summary_text.done",
                    "response.reasoning_summary_part.done",
                )
                where["summary_index"] = 0
            else:
                part, text = "output_text", plan.reply
                added, delta, text_done, part_done = (
                    "response.content_part.added",
                    "response.output_text.delta",
                    "response.output_text.done",
                    "response.content_part.done",
                )
                where["content_index"] = 0
            extra: dict[str, Any] = {"annotations": []} if part == "output_text" else {}
            steps.append(self._sse(added, **where, part={"type": part, **extra, "text": ""}))
            for piece in split(text, plan.chunk):
                if plan.delay:
                    steps.append(plan.delay)
                steps.append(self._sse(delta, **where, delta=piece))
                deltas += 1
                if plan.drop and deltas == 2:
                    return [*steps, DROP]
            steps.append(self._sse(text_done, **where, text=text))
            steps.append(self._sse(part_done, **where, part={"type": part, **extra, "text": text}))
            steps.append(self._sse("response.output_item.done", output_index=index, item=item))
        final = self.final()
        name = "response.incomplete" if self.incomplete else "response.completed"
        steps.append(self._sse(name, response=final))
        return steps

    def _items(self) -> list[tuple[str, dict[str, Any]]]:
        items: list[tuple[str, dict[str, Any]]] = []
        if self.plan.thinking:
            summary = [{"type": "summary_text", "text": self.plan.thinking}]
            items.append(
                ("reasoning", {"id": self.reasoning_id, "type": "reasoning", "summary": summary})
            )
        text = {"type": "output_text", "annotations": [], "logprobs": [], "text": self.plan.reply}
        message = {
            "id": self.message_id,
            "type": "message",
            "status": "incomplete" if self.incomplete else "completed",
            "role": "assistant",
            "content": [text],
        }
        items.append(("message", message))
        return items

    def _object(
        self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        incomplete = {"reason": "max_output_tokens"} if status == "incomplete" else None
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": incomplete,
            "instructions": self.body.get("instructions"),
            "max_output_tokens": self.body.get("max_output_tokens"),
            "model": str(self.body.get("model", "stub-model")),
            "output": output,
            "parallel_tool_calls": bool(self.body.get("parallel_tool_calls", True)),
            "previous_response_id": None,
            "reasoning": self.body.get("reasoning") or {"effort": None, "summary": None},
            "store": bool(self.body.get("store", False)),
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": self.body.get("tool_choice", "auto"),
            "tools": self.body.get("tools") or [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "metadata": {},
        }

    def _sse(self, event: str, **fields: Any) -> bytes:
        data = {"type": event, "sequence_number": next(self._sequence), **fields}
        return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
