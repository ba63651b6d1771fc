"""The model behind the client tests: the repo's stub backends, told what to answer by a script.

A client test cannot write the stubs' ``[[directives]]`` into its prompt: the prompt is the
README's, or one a real client builds around the user's words. So the test scripts the model
instead: when a request's user text holds a rule's trigger, the rule's answer is given, as a
competent model would give it (a tool call, then an answer once the tool's result is back; a
file edit; JSON). The answer reaches the stub as directives added to the request it receives,
so the stub still answers in its API's own wire format.

A conversation's earlier turns reach the model as turns of their own (the CLI's session), or,
for a run of its own, rendered into one prompt (``cliwrap.semantics.transcript``): the
model's earlier answers in ``<assistant>`` tags, a tool's result as a ``<tool_result …>``
block. A request with an answer or a tool's result after the trigger gets the rule's
``then`` answer.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import attrs

from cliwrap.testing import Recorded, Response, handle_backends
from cliwrap.testing.anthropic import prompt_text as messages_text
from cliwrap.testing.openai_responses import prompt_text as responses_text

__all__ = ["ScriptedModel", "call", "reply"]


def reply(text: str) -> str:
    """The directive for a text answer (it cannot hold ``[[`` or ``]]``)."""
    assert "[[" not in text
    assert "]]" not in text
    return f"[[reply:{text}]]"


def call(tool: str, arguments: dict[str, Any]) -> str:
    """The directive for one call of a client's tool."""
    return f"[[call:{tool} {json.dumps(arguments)}]]"


@attrs.frozen
class _Rule:
    trigger: str
    first: str
    then: str


class ScriptedModel:
    """A stub handler: :func:`cliwrap.testing.handle_backends` with scripted answers."""

    def __init__(self) -> None:
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def script(self, trigger: str, first: str, then: str = "") -> None:
        """Answer ``first`` to a prompt holding ``trigger``, ``then`` once a tool's result is in
        it (an echo of the last line if none is given)."""
        with self._lock:
            self._rules.insert(0, _Rule(trigger, first, then))

    def __call__(self, request: Recorded) -> Response:
        return handle_backends(self._scripted(request))

    def _scripted(self, request: Recorded) -> Recorded:
        body = request.body
        if not isinstance(body, dict):
            return request
        if request.path.startswith("/v1/messages"):
            text = messages_text(body)
        elif request.path.startswith("/v1/responses"):
            text = responses_text(body)
        else:
            return request
        with self._lock:
            rule = next((r for r in self._rules if r.trigger in text), None)
        if rule is None:
            return request
        answered = _answered_after(_turns(request.path, body), rule.trigger)
        answer = rule.then if answered else rule.first
        if not answer:
            return request
        turn = {"role": "user", "content": answer}
        if request.path.startswith("/v1/responses") and isinstance(body.get("input"), str):
            body = {**body, "input": body["input"] + "\n" + answer}
        else:
            key = "messages" if request.path.startswith("/v1/messages") else "input"
            body = {**body, key: [*body.get(key, []), turn]}
        return attrs.evolve(request, body=body)


def _turns(path: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of each turn a model request carries, in order (the Messages API's
    messages, or the Responses API's input items; a call and its output count as turns)."""
    if path.startswith("/v1/messages"):
        items = body.get("messages") or []
    else:
        raw = body.get("input")
        items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw or []
    turns = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind in ("function_call", "custom_tool_call"):
            turns.append(("assistant", ""))
            continue
        if kind in ("function_call_output", "custom_tool_call_output"):
            turns.append(("tool", str(item.get("output"))))
            continue
        content = item.get("content")
        parts = [content] if isinstance(content, str) else content or []
        text = "\n".join(
            p if isinstance(p, str) else str(p.get("text") or p.get("content") or "") for p in parts
        )
        turns.append((str(item.get("role")), text))
    return turns


def _answered_after(turns: list[tuple[str, str]], trigger: str) -> bool:
    """Whether the conversation went on after the question: an answer or a tool's result
    after it (clients put example turns of their own before it). The CLI's session carries
    earlier turns as turns of their own; a transcript in one prompt marks them with tags."""
    start = next((i for i, (_, text) in enumerate(turns) if trigger in text), None)
    if start is None:
        return False
    rest = turns[start:]
    asked = rest[0][1][rest[0][1].index(trigger) :]
    return (
        any(role in ("assistant", "tool") for role, _ in rest[1:])
        or any("<tool_result" in text or "<assistant>" in text for _, text in rest[1:])
        or "<tool_result" in asked
        or "<assistant>" in asked
    )
