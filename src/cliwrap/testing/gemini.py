"""A stub of the Gemini API: ``POST /v1beta/models/<model>:streamGenerateContent?alt=sse``.

Answers and fails as the real API does, steered by directives in the prompt
(:mod:`cliwrap.testing.directives`): ``GenerateContentResponse`` chunks as server-sent events
(or one of them from ``:generateContent``), thinking as parts marked ``"thought": true``, the
token counts on the last chunk, and Google's error bodies, whose ``status`` names the kind of
failure and whose ``details`` carry the retry delay of a 429. A directive's ``retry-after=N``
is also sent as a ``Retry-After`` header, on any failure: the only place it is for a 503.
Given a :class:`~cliwrap.testing.prompt_cache.PromptCache`, it caches prompt prefixes as
Gemini's implicit caching does, and reports them as ``cachedContentTokenCount``.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from .directives import Plan, read_plan, split
from .http import DROP, Recorded, Response, Step
from .prompt_cache import Prompt, PromptCache

__all__ = ["cache_prompt", "handle_gemini", "prompt_text"]

_ROUTE = re.compile(r"^/v1beta/models/(?P<model>[^/:?]+):(?P<method>\w+)(?:\?.*)?$")
_STATUSES = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
        "cookie or other valid authentication credential.",
    ),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report in the console."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}
_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
_CONTEXT_LIMIT = 1_048_576
_FINISH_REASONS = {"end_turn": "STOP", "max_tokens": "MAX_TOKENS"}
_ids = itertools.count(1)


def prompt_text(body: Any, role: str = "user") -> str:
    """All text of ``role``'s turns (``user``, ``model``) in a ``generateContent`` request,
    in order (thoughts excluded)."""
    texts: list[str] = []
    for content in body.get("contents", []) if isinstance(body, dict) else []:
        if content.get("role", "user") != role:
            continue
        texts.extend(
            part["text"]
            for part in content.get("parts") or []
            if isinstance(part.get("text"), str) and not part.get("thought")
        )
    return "\n".join(texts)


def cache_prompt(body: dict[str, Any]) -> Prompt:
    """The prompt as Gemini's implicit cache reads it: the system instruction, the tools, then
    the contents."""
    system = [body["systemInstruction"]] if body.get("systemInstruction") else []
    return Prompt.of([*system, *(body.get("tools") or []), *(body.get("contents") or [])])


def handle_gemini(request: Recorded, cache: PromptCache | None = None) -> Response:
    route = _ROUTE.match(request.path)
    method = route["method"] if route else ""
    if request.method != "POST" or method not in ("streamGenerateContent", "generateContent"):
        return Response.json(404, _error(404, f"no route {request.method} {request.path}"))
    assert route is not None
    body = request.body if isinstance(request.body, dict) else {}
    prompt = prompt_text(body)
    plan = read_plan(prompt, prompt_text(body, "model"))
    hold: list[Step] = [plan.hold] if plan.hold else []
    failure = _failure(plan, prompt)
    if failure is not None:
        return Response(failure.status, failure.headers, [*hold, *failure.steps])
    model = route["model"]
    request_prompt = cache_prompt(body)
    cached = cache.prefix("gemini", [model], request_prompt) if cache else request_prompt.uncached()
    usage = {
        "promptTokenCount": cached.prompt_tokens,
        "candidatesTokenCount": max(1, len(plan.reply) // 4),
    }
    if plan.thinking:
        usage["thoughtsTokenCount"] = max(1, len(plan.thinking) // 4)
    usage["totalTokenCount"] = sum(usage.values())
    if cached.cached_tokens:  # Google leaves it out when nothing was cached
        usage["cachedContentTokenCount"] = cached.cached_tokens
    response_id = f"stub{next(_ids):06d}"
    if method == "generateContent":
        if plan.drop and not plan.drop_stream_only:
            return Response(200, (("content-type", "application/json"),), [*hold, DROP])
        parts = [{"text": plan.thinking, "thought": True}] if plan.thinking else []
        parts.append({"text": plan.reply})
        whole = _chunk(parts, model, response_id, _finish(plan), usage)
        return Response(200, Response.json(200, whole).headers, [*hold, json.dumps(whole).encode()])
    # Always server-sent events: without ``alt=sse`` the real API streams one JSON array,
    # which no CLI asks for.
    return Response(
        200,
        (("content-type", "text/event-stream"),),
        [*hold, *_stream(plan, model, response_id, usage)],
    )


def _failure(plan: Plan, prompt: str) -> Response | None:
    if plan.overflow:
        tokens = _CONTEXT_LIMIT + max(1, len(prompt) // 4)
        message = (
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({_CONTEXT_LIMIT})."
        )
        return Response.json(400, _error(400, message))
    if plan.fail_status is None:
        return None
    status = plan.fail_status
    headers = (("retry-after", str(plan.retry_after)),) if plan.retry_after else ()
    if status == 429 and plan.retry_after:
        # What a per-minute quota answers: the delay in the message and as google.rpc.RetryInfo.
        message = f"{_QUOTA}\nPlease retry in {plan.retry_after}s."
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaValue": "10",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": f"{plan.retry_after}s",
            },
        ]
        return Response.json(status, _error(status, message, details), headers)
    message = _STATUSES.get(status, ("", "Stub failure."))[1]
    return Response.json(status, _error(status, message), headers)


def _stream(plan: Plan, model: str, response_id: str, usage: dict[str, int]) -> list[Step]:
    pieces: list[dict[str, Any]] = []
    if plan.thinking:
        pieces += [{"text": piece, "thought": True} for piece in split(plan.thinking, plan.chunk)]
    pieces += [{"text": piece} for piece in split(plan.reply, plan.chunk)]
    steps: list[Step] = []
    for number, part in enumerate(pieces, start=1):
        if plan.delay:
            steps.append(plan.delay)
        last = number == len(pieces)
        chunk = _chunk(
            [part], model, response_id, _finish(plan) if last else None, usage if last else None
        )
        steps.append(_event(chunk))
        if plan.drop and number == 2:
            return [*steps, DROP]
    return steps


def _chunk(
    parts: list[dict[str, Any]],
    model: str,
    response_id: str,
    finish: str | None,
    usage: dict[str, int] | None,
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    chunk: dict[str, Any] = {"candidates": [candidate]}
    if usage:
        chunk["usageMetadata"] = dict(usage)
    chunk["modelVersion"] = model
    chunk["responseId"] = response_id
    return chunk


def _finish(plan: Plan) -> str:
    return _FINISH_REASONS.get(plan.stop_reason, "STOP")


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> Any:
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUSES.get(status, ("UNKNOWN", ""))[0],
    }
    if details:
        error["details"] = details
    return {"error": error}


def _event(chunk: dict[str, Any]) -> bytes:
    # As Google frames them: compact JSON, events separated by CRLF pairs.
    return f"data: {json.dumps(chunk, separators=(',', ':'))}\r\n\r\n".encode()
