"""The OpenAPI 3.1 description of every route, served at ``GET /openapi.json``.

Written out by hand rather than derived, because the surfaces parse requests by hand (to
answer as OpenAI and Anthropic do, in their wording and shapes): there are no models to
derive it from. What keeps it true is ``tests/test_openapi.py``: the document must be valid
OpenAPI, name exactly the app's routes, and every body, SSE event and WebSocket frame the
live server sends in those tests must validate against the schema documented for it.

OpenAPI 3.1 has no words for an SSE stream's events or a WebSocket's frames. The
``text/event-stream`` media types carry the schema of one event's ``data`` in
``x-sse-data``, and the WebSocket route names its frames' schemas in ``x-websocket``.
Request schemas describe what cliwrap reads and checks; other fields are allowed, because
OpenAI clients send many that compatible servers are expected to ignore.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ErrorKind
from ..core.events import FinishReason
from ..core.request import EFFORTS
from ..surfaces.anthropic_messages import STOP_REASONS
from ..surfaces.openai_chat import MAX_CHOICES
from ..surfaces.openai_responses import LEFT_OUT_ITEMS

__all__ = ["document"]

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """A closed object: these properties, the ``required`` ones always present."""
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": False,
    }


def _request(required: dict[str, Schema], optional: dict[str, Schema]) -> Schema:
    """A request body: what cliwrap reads; unknown fields are accepted and ignored."""
    return {**_obj(required, optional), "additionalProperties": True}


def _const(value: object) -> Schema:
    return {"const": value}


def _event(kind: str, /, **fields: Schema) -> Schema:
    """A streamed event object whose ``type`` is its name."""
    return _obj({"type": _const(kind), **fields})


STRING: Schema = {"type": "string"}
SESSION_ID: Schema = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,255}$"}
INTEGER: Schema = {"type": "integer", "minimum": 0}
NULL: Schema = {"type": "null"}
BOOLEAN: Schema = {"type": "boolean"}
OBJECT: Schema = {"type": "object"}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, NULL]}


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _enum(values: list[str]) -> Schema:
    return {"type": "string", "enum": values}


FINISH_REASONS = [reason.value for reason in FinishReason]
CHAT_FINISH_REASONS = [*FINISH_REASONS, "function_call"]
"""``function_call`` answers clients of the legacy ``functions`` parameter."""
EFFORT: Schema = {"type": "string", "enum": list(EFFORTS)}
LIMIT: Schema = {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}
"""A token limit; null when nothing says it."""
TOKENS: Schema = {"type": "integer", "minimum": 1}
TEMPERATURE: Schema = {"type": "number", "minimum": 0, "maximum": 2}
TOP_P: Schema = {"type": "number", "minimum": 0, "maximum": 1}
TOOL_NAME: Schema = {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,128}$"}
ARGUMENTS_TEXT: Schema = {"type": "string", "description": "A JSON object, as text."}
USAGE_COUNTERS: dict[str, Schema] = {
    "requests": INTEGER,
    "input_tokens": {**INTEGER, "description": "Read afresh (cache writes included)."},
    "output_tokens": INTEGER,
    "cached_tokens": {**INTEGER, "description": "Read from the prompt cache."},
    "cost_usd": {"type": "number", "minimum": 0, "description": "As the CLIs report it."},
}
OPENAI_CODES = sorted({k.openai_code for k in ErrorKind if k.openai_code})
OPENAI_TYPES = sorted({k.openai_type for k in ErrorKind})
ANTHROPIC_TYPES = sorted({k.anthropic_type for k in ErrorKind})
TEXT_PART = _obj({"type": _const("text"), "text": STRING})
IMAGE_URL: Schema = {
    "type": "string",
    "description": "A base64 data: URL (PNG, JPEG, GIF or WebP, at most 3.75 MB; 20 per "
    "request), or an http(s) URL when the server's [images] allow_urls is on.",
}
IMAGE_URL_PART = _request(
    {
        "type": _const("image_url"),
        "image_url": {"anyOf": [IMAGE_URL, _request({"url": IMAGE_URL}, {"detail": STRING})]},
    },
    {},
)


def _chat_schemas() -> dict[str, Schema]:
    usage = _obj(
        {
            "prompt_tokens": INTEGER,
            "completion_tokens": INTEGER,
            "total_tokens": INTEGER,
            "prompt_tokens_details": _obj({"cached_tokens": INTEGER}),
        },
        {"cost_usd": {"type": "number", "description": "The CLI's own cost figure."}},
    )
    base = {
        "id": {"type": "string", "pattern": "^chatcmpl-"},
        "created": INTEGER,
        "model": STRING,
        "system_fingerprint": NULL,
    }
    function = _request(
        {"name": TOOL_NAME},
        {"description": STRING, "parameters": {**OBJECT, "description": "A JSON Schema."}},
    )
    call = {
        "id": STRING,
        "type": _const("function"),
        "function": _obj({"name": STRING, "arguments": ARGUMENTS_TEXT}),
    }
    named = _request({"name": STRING}, {})
    piece = _obj({}, {"name": STRING, "arguments": STRING})
    return {
        "ChatMessage": _request(
            {
                "role": _enum(["system", "developer", "user", "assistant", "tool", "function"]),
                "content": {
                    "description": "A string, or text and (in user messages) image parts.",
                    "anyOf": [
                        STRING,
                        {"type": "array", "items": {"oneOf": [TEXT_PART, IMAGE_URL_PART]}},
                        NULL,
                    ],
                },
            },
            {
                "name": STRING,
                "tool_calls": {"type": "array", "items": _request({"function": function}, {})},
                "tool_call_id": STRING,
                "function_call": _request({"name": STRING}, {"arguments": ARGUMENTS_TEXT}),
            },
        ),
        "ChatToolCall": _obj(call),
        "ChatCompletionRequest": _request(
            {
                "model": {**STRING, "minLength": 1, "examples": ["sonnet"]},
                "messages": {"type": "array", "minItems": 1, "items": _ref("ChatMessage")},
            },
            {
                "session_id": {
                    **SESSION_ID,
                    "description": "The conversation it continues (see GET /v1/sessions).",
                },
                "stream": _nullable(BOOLEAN),
                "stream_options": _nullable({**OBJECT, "properties": {"include_usage": BOOLEAN}}),
                "n": {
                    "description": "Answers wanted, each from a run of its own (1 on /v1/ws).",
                    "anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_CHOICES}, NULL],
                },
                "max_tokens": _nullable(TOKENS),
                "max_completion_tokens": _nullable(TOKENS),
                "reasoning_effort": _nullable(EFFORT),
                "temperature": _nullable(TEMPERATURE),
                "top_p": _nullable(TOP_P),
                "stop": {
                    "anyOf": [
                        {**STRING, "minLength": 1},
                        {"type": "array", "maxItems": 4, "items": {**STRING, "minLength": 1}},
                        NULL,
                    ]
                },
                "tools": {
                    "type": "array",
                    "items": _request({"type": _const("function"), "function": function}, {}),
                },
                "tool_choice": {
                    "anyOf": [
                        _enum(["none", "auto", "required"]),
                        _request({"type": _const("function"), "function": named}, {}),
                    ]
                },
                "functions": {
                    "description": "Legacy: answered with `function_call`.",
                    "type": "array",
                    "items": function,
                },
                "function_call": {
                    "anyOf": [_enum(["none", "auto"]), _request({"name": STRING}, {})]
                },
                "response_format": {
                    "oneOf": [
                        _request({"type": _enum(["text", "json_object"])}, {}),
                        _request(
                            {
                                "type": _const("json_schema"),
                                "json_schema": _request({"schema": OBJECT}, {"name": STRING}),
                            },
                            {},
                        ),
                    ]
                },
            },
        ),
        "ChatUsage": usage,
        "ChatCompletion": _obj(
            {
                **base,
                "object": _const("chat.completion"),
                "choices": {
                    "type": "array",
                    "items": _obj(
                        {
                            "index": INTEGER,
                            "message": _obj(
                                {"role": _const("assistant"), "content": _nullable(STRING)},
                                {
                                    "reasoning_content": STRING,
                                    "tool_calls": {"type": "array", "items": _ref("ChatToolCall")},
                                    "function_call": _obj(
                                        {"name": STRING, "arguments": ARGUMENTS_TEXT}
                                    ),
                                },
                            ),
                            "finish_reason": _enum(CHAT_FINISH_REASONS),
                            "logprobs": NULL,
                        }
                    ),
                },
                "usage": _ref("ChatUsage"),
            }
        ),
        "ChatCompletionChunk": _obj(
            {
                **base,
                "object": _const("chat.completion.chunk"),
                "choices": {
                    "type": "array",
                    "items": _obj(
                        {
                            "index": INTEGER,
                            "delta": _obj(
                                {},
                                {
                                    "role": _const("assistant"),
                                    "content": STRING,
                                    "reasoning_content": STRING,
                                    # A call opens with its id, type and name; its
                                    # arguments follow in pieces (JSON text only together).
                                    "tool_calls": {
                                        "type": "array",
                                        "items": _obj(
                                            {"index": INTEGER},
                                            {
                                                "id": STRING,
                                                "type": _const("function"),
                                                "function": piece,
                                            },
                                        ),
                                    },
                                    "function_call": piece,
                                },
                            ),
                            "finish_reason": _nullable(_enum(CHAT_FINISH_REASONS)),
                            "logprobs": NULL,
                        }
                    ),
                },
            },
            {"usage": _nullable(_ref("ChatUsage"))},
        ),
        "ChatStreamData": {
            "description": "One `data:` of a chat completions stream; the last is `[DONE]`.",
            "oneOf": [_ref("ChatCompletionChunk"), _ref("OpenAIError"), _const("[DONE]")],
        },
    }


def _responses_schemas() -> dict[str, Schema]:
    output_text = _obj(
        {"type": _const("output_text"), "text": STRING, "annotations": {"type": "array"}}
    )
    summary_text = _obj({"type": _const("summary_text"), "text": STRING})
    where = {"item_id": STRING, "output_index": INTEGER, "sequence_number": INTEGER}
    response_event = {"response": _ref("Response"), "sequence_number": INTEGER}
    events = {
        "response.created": response_event,
        "response.in_progress": response_event,
        "response.completed": response_event,
        "response.incomplete": response_event,
        "response.failed": response_event,
        "response.output_item.added": {
            "output_index": INTEGER,
            "item": _ref("ResponseOutputItem"),
            "sequence_number": INTEGER,
        },
        "response.output_item.done": {
            "output_index": INTEGER,
            "item": _ref("ResponseOutputItem"),
            "sequence_number": INTEGER,
        },
        "response.content_part.added": {**where, "content_index": INTEGER, "part": output_text},
        "response.content_part.done": {**where, "content_index": INTEGER, "part": output_text},
        "response.output_text.delta": {
            **where,
            "content_index": INTEGER,
            "delta": STRING,
            "logprobs": _const([]),
        },
        "response.output_text.done": {
            **where,
            "content_index": INTEGER,
            "text": STRING,
            "logprobs": _const([]),
        },
        "response.reasoning_summary_part.added": {
            **where,
            "summary_index": INTEGER,
            "part": summary_text,
        },
        "response.reasoning_summary_part.done": {
            **where,
            "summary_index": INTEGER,
            "part": summary_text,
        },
        "response.reasoning_summary_text.delta": {
            **where,
            "summary_index": INTEGER,
            "delta": STRING,
        },
        "response.reasoning_summary_text.done": {
            **where,
            "summary_index": INTEGER,
            "text": STRING,
        },
        "response.function_call_arguments.delta": {**where, "delta": STRING},
        "response.function_call_arguments.done": {
            **where,
            "name": STRING,
            "arguments": ARGUMENTS_TEXT,
        },
        "response.custom_tool_call_input.delta": {**where, "delta": STRING},
        "response.custom_tool_call_input.done": {**where, "input": STRING},
    }
    function_tool = _request(
        {"type": _const("function"), "name": TOOL_NAME},
        {"description": STRING, "parameters": OBJECT},
    )
    custom_tool = {
        "description": "Offered as a function of one string, `input`; called with "
        "`custom_tool_call` items.",
        **_request({"type": _const("custom"), "name": TOOL_NAME}, {"description": STRING}),
    }
    text_part = {
        "oneOf": [
            _request({"type": _enum(["input_text", "output_text", "text"]), "text": STRING}, {}),
            _request({"type": _const("input_image"), "image_url": IMAGE_URL}, {"detail": STRING}),
        ]
    }
    return {
        "ResponsesInputItem": {
            "oneOf": [
                _request(
                    {
                        "role": _enum(["system", "developer", "user", "assistant"]),
                        "content": {
                            "anyOf": [STRING, {"type": "array", "items": text_part}],
                        },
                    },
                    {"type": _const("message")},
                ),
                {
                    "description": "An earlier turn's reasoning, accepted and left out.",
                    **_request({"type": _const("reasoning")}, {}),
                },
                _request(
                    {
                        "type": _const("function_call"),
                        "call_id": STRING,
                        "name": STRING,
                        "arguments": ARGUMENTS_TEXT,
                    },
                    {"namespace": STRING},
                ),
                _request(
                    {
                        "type": _const("custom_tool_call"),
                        "call_id": STRING,
                        "name": STRING,
                        "input": STRING,
                    },
                    {"namespace": STRING},
                ),
                _request(
                    {
                        "type": _enum(["function_call_output", "custom_tool_call_output"]),
                        "call_id": STRING,
                        "output": {"anyOf": [STRING, {"type": "array", "items": text_part}]},
                    },
                    {},
                ),
                {
                    "description": "Hosted tools' calls and results, and compactions, from an "
                    "earlier conversation: accepted and left out.",
                    **_request({"type": _enum(sorted(LEFT_OUT_ITEMS - {"reasoning"}))}, {}),
                },
            ]
        },
        "ResponsesRequest": _request(
            {
                "model": {**STRING, "minLength": 1, "examples": ["gpt-5.5"]},
                "input": {
                    "anyOf": [
                        STRING,
                        {"type": "array", "minItems": 1, "items": _ref("ResponsesInputItem")},
                    ]
                },
            },
            {
                "instructions": _nullable(STRING),
                "stream": _nullable(BOOLEAN),
                "max_output_tokens": _nullable(TOKENS),
                "reasoning": _request({}, {"effort": _nullable(EFFORT)}),
                "temperature": _nullable(TEMPERATURE),
                "top_p": _nullable(TOP_P),
                "tools": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            function_tool,
                            custom_tool,
                            _request(
                                {
                                    "type": _const("namespace"),
                                    "name": TOOL_NAME,
                                    "tools": {
                                        "type": "array",
                                        "items": {"oneOf": [function_tool, custom_tool]},
                                    },
                                },
                                {"description": STRING},
                            ),
                            {
                                "description": "A hosted tool (web_search, tool_search, "
                                "image_generation…): accepted and not offered.",
                                **_request(
                                    {
                                        "type": {
                                            **STRING,
                                            "not": _enum(["function", "custom", "namespace"]),
                                        }
                                    },
                                    {},
                                ),
                            },
                        ]
                    },
                },
                "tool_choice": {
                    "anyOf": [
                        _enum(["none", "auto", "required"]),
                        _request({"type": _enum(["function", "custom"]), "name": STRING}, {}),
                    ]
                },
                "text": _request(
                    {},
                    {
                        "format": {
                            "oneOf": [
                                _request({"type": _enum(["text", "json_object"])}, {}),
                                _request(
                                    {"type": _const("json_schema"), "schema": OBJECT},
                                    {"name": STRING},
                                ),
                            ]
                        }
                    },
                ),
                "previous_response_id": {
                    "description": "Continue the conversation of this earlier response.",
                    **_nullable(STRING),
                },
                "store": {
                    "description": "Whether a later previous_response_id may name this answer.",
                    **_nullable(BOOLEAN),
                },
                "session_id": {
                    **SESSION_ID,
                    "description": "The conversation it continues (see GET /v1/sessions).",
                },
            },
        ),
        "ResponseOutputItem": {
            "oneOf": [
                _obj(
                    {
                        "id": {"type": "string", "pattern": "^fc_"},
                        "type": _const("function_call"),
                        "status": _enum(["in_progress", "completed"]),
                        "call_id": STRING,
                        "name": STRING,
                        "arguments": {"type": "string"},
                    },
                    {"namespace": STRING},
                ),
                _obj(
                    {
                        "id": {"type": "string", "pattern": "^ctc_"},
                        "type": _const("custom_tool_call"),
                        "status": _enum(["in_progress", "completed"]),
                        "call_id": STRING,
                        "name": STRING,
                        "input": STRING,
                    },
                    {"namespace": STRING},
                ),
                _obj(
                    {
                        "id": {"type": "string", "pattern": "^rs_"},
                        "type": _const("reasoning"),
                        "summary": {"type": "array", "items": summary_text},
                    }
                ),
                _obj(
                    {
                        "id": {"type": "string", "pattern": "^msg_"},
                        "type": _const("message"),
                        "status": _enum(["in_progress", "completed", "incomplete"]),
                        "role": _const("assistant"),
                        "content": {"type": "array", "items": output_text},
                    }
                ),
            ]
        },
        "Response": _obj(
            {
                "id": {"type": "string", "pattern": "^resp_"},
                "object": _const("response"),
                "created_at": INTEGER,
                "status": _enum(["in_progress", "completed", "incomplete", "failed"]),
                "error": _nullable(_obj({"code": STRING, "message": STRING})),
                "incomplete_details": _nullable(_obj({"reason": _const("max_output_tokens")})),
                "instructions": _nullable(STRING),
                "model": STRING,
                "output": {"type": "array", "items": _ref("ResponseOutputItem")},
                "parallel_tool_calls": BOOLEAN,
                "tool_choice": STRING,
                "tools": {"type": "array", "maxItems": 0},
                "usage": _nullable(
                    _obj(
                        {
                            "input_tokens": INTEGER,
                            "input_tokens_details": _obj(
                                {"cached_tokens": INTEGER, "cache_write_tokens": INTEGER}
                            ),
                            "output_tokens": INTEGER,
                            "output_tokens_details": _obj({"reasoning_tokens": INTEGER}),
                            "total_tokens": INTEGER,
                        }
                    )
                ),
                "metadata": OBJECT,
            }
        ),
        "ResponseStreamEvent": {
            "description": "One event of a Responses stream; its SSE `event:` is its type.",
            "oneOf": [_event(name, **fields) for name, fields in events.items()],
        },
    }


def _anthropic_schemas() -> dict[str, Schema]:
    thinking = _obj({"type": _const("thinking"), "thinking": STRING, "signature": STRING})
    blocks = {
        "type": "array",
        "items": {
            "oneOf": [
                _request({"type": _const("text"), "text": STRING}, {}),
                _request({"type": _enum(["thinking", "redacted_thinking"])}, {}),
                _request(
                    {
                        "type": _const("image"),
                        "source": {
                            "oneOf": [
                                _request(
                                    {"type": _const("base64"), "data": STRING},
                                    {"media_type": STRING},
                                ),
                                _request({"type": _const("url"), "url": IMAGE_URL}, {}),
                            ]
                        },
                    },
                    {},
                ),
                _request(
                    {"type": _const("tool_use"), "id": STRING, "name": STRING, "input": OBJECT},
                    {},
                ),
                _request(
                    {
                        "type": _const("document"),
                        "source": _request(
                            {"type": _enum(["text", "content"])},
                            {"data": STRING, "content": {"type": "array"}},
                        ),
                    },
                    {"title": STRING},
                ),
                _request(
                    {
                        "type": _const("search_result"),
                        "source": STRING,
                        "content": {"type": "array"},
                    },
                    {"title": STRING},
                ),
                _request(
                    {"type": _const("tool_result"), "tool_use_id": STRING},
                    {
                        "content": {
                            "description": "Text, images, and `tool_reference` blocks (tool "
                            "search's answer: the `defer_loading` tool it names is offered).",
                            "anyOf": [STRING, {"type": "array", "items": OBJECT}],
                        },
                        "is_error": BOOLEAN,
                    },
                ),
            ]
        },
    }
    json_schema = _request({"type": _const("json_schema"), "schema": OBJECT}, {})
    tool_use = _obj({"type": _const("tool_use"), "id": STRING, "name": STRING, "input": OBJECT})
    text = _obj({"type": _const("text"), "text": STRING})
    usage = _obj(
        {
            "input_tokens": INTEGER,
            "output_tokens": INTEGER,
            "cache_creation_input_tokens": INTEGER,
            "cache_read_input_tokens": INTEGER,
        }
    )
    stop_reasons = sorted({*STOP_REASONS.values(), "stop_sequence"})
    message_fields: dict[str, Schema] = {
        "messages": {
            "type": "array",
            "minItems": 1,
            "items": _request(
                {
                    "role": {
                        **_enum(["user", "assistant", "system"]),
                        "description": "A `system` turn after the first user or assistant "
                        "turn reaches the model where it is; leading ones join `system`.",
                    },
                    "content": {"anyOf": [STRING, blocks]},
                },
                {},
            ),
        },
        "system": {"anyOf": [STRING, {"type": "array", "items": TEXT_PART}]},
    }
    model: Schema = {**STRING, "minLength": 1, "examples": ["sonnet"]}
    return {
        "MessagesRequest": _request(
            {
                "model": model,
                "max_tokens": {"type": "integer", "minimum": 1},
                "messages": message_fields["messages"],
            },
            {
                "session_id": {
                    **SESSION_ID,
                    "description": "The conversation it continues (see GET /v1/sessions).",
                },
                "system": message_fields["system"],
                "stop_sequences": {"type": "array", "items": STRING},
                "metadata": _obj({}, {"user_id": _nullable(STRING)}),
                "stream": _nullable(BOOLEAN),
                "tools": {
                    "type": "array",
                    "items": _request(
                        {"name": TOOL_NAME},
                        {
                            "description": STRING,
                            "input_schema": OBJECT,
                            "type": _const("custom"),
                            "defer_loading": {
                                **BOOLEAN,
                                "description": "Offered once a `tool_reference` names it.",
                            },
                        },
                    ),
                },
                "tool_choice": {
                    "oneOf": [
                        _request({"type": _enum(["auto", "any", "none"])}, {}),
                        _request({"type": _const("tool"), "name": STRING}, {}),
                    ]
                },
                "output_config": _request(
                    {},
                    {
                        "effort": _enum(["low", "medium", "high", "xhigh", "max"]),
                        "format": json_schema,
                    },
                ),
                "output_format": {
                    **json_schema,
                    "description": "The structured-outputs beta's place for the format.",
                },
                "thinking": {
                    "oneOf": [
                        _request(
                            {
                                "type": _const("enabled"),
                                "budget_tokens": {"type": "integer", "minimum": 1024},
                            },
                            {},
                        ),
                        _request({"type": _enum(["disabled", "adaptive", "between_tools"])}, {}),
                    ]
                },
                "temperature": {"type": "number", "minimum": 0, "maximum": 1},
                "top_p": TOP_P,
            },
        ),
        "CountTokensRequest": _request(
            {"model": model, "messages": message_fields["messages"]},
            {"system": message_fields["system"], "tools": {"type": "array", "items": OBJECT}},
        ),
        "CountTokensResponse": _obj(
            {
                "input_tokens": {
                    **INTEGER,
                    "description": "An estimate: ~4 characters a token, of the messages, "
                    "the system prompt and the tools.",
                }
            }
        ),
        "AnthropicUsage": usage,
        "Message": _obj(
            {
                "id": {"type": "string", "pattern": "^msg_"},
                "type": _const("message"),
                "role": _const("assistant"),
                "model": STRING,
                "content": {
                    "type": "array",
                    "items": {"oneOf": [thinking, text, tool_use]},
                },
                "stop_reason": _nullable(_enum(stop_reasons)),
                "stop_sequence": _nullable(STRING),
                "usage": _ref("AnthropicUsage"),
            }
        ),
        "MessageStreamEvent": {
            "description": "One event of a Messages stream; its SSE `event:` is its type.",
            "oneOf": [
                _event("message_start", message=_ref("Message")),
                _event(
                    "content_block_start",
                    index=INTEGER,
                    content_block={"oneOf": [thinking, text, tool_use]},
                ),
                _event("ping"),
                _event(
                    "content_block_delta",
                    index=INTEGER,
                    delta={
                        "oneOf": [
                            _obj({"type": _const("text_delta"), "text": STRING}),
                            _obj({"type": _const("thinking_delta"), "thinking": STRING}),
                            _obj({"type": _const("signature_delta"), "signature": STRING}),
                            _obj({"type": _const("input_json_delta"), "partial_json": STRING}),
                        ]
                    },
                ),
                _event("content_block_stop", index=INTEGER),
                _event(
                    "message_delta",
                    delta=_obj(
                        {"stop_reason": _enum(stop_reasons), "stop_sequence": _nullable(STRING)}
                    ),
                    usage=_ref("AnthropicUsage"),
                ),
                _event("message_stop"),
                _ref("AnthropicError"),
            ],
        },
    }


def _websocket_schemas() -> dict[str, Schema]:
    id_ = {"type": "string", "minLength": 1, "maxLength": 200}

    def frame(name: str, **fields: Schema) -> Schema:
        return _obj({"type": _const(name), "id": id_, **fields})

    return {
        "WebSocketClientFrame": {
            "oneOf": [
                _request(
                    {
                        "type": _const("request"),
                        "id": id_,
                        "body": _ref("ChatCompletionRequest"),
                    },
                    {},
                ),
                _request({"type": _const("cancel"), "id": id_}, {}),
                _request({"type": _const("auth"), "api_key": STRING}, {}),
            ]
        },
        "WebSocketServerFrame": {
            "oneOf": [
                _obj({"type": _const("authenticated")}),
                _obj(
                    {"type": _const("start"), "id": id_, "model": STRING},
                    {"session_id": STRING},  # a single answer is a conversation's turn
                ),
                frame("delta", content=STRING),
                frame("reasoning", content=STRING),
                frame("progress", mark=STRING),
                frame("keepalive"),
                frame("usage", usage=_ref("ChatUsage")),
                frame(
                    "tool_call",
                    call=_obj({"id": STRING, "name": STRING, "arguments": ARGUMENTS_TEXT}),
                ),
                frame("done", finish_reason=_enum([*FINISH_REASONS, "cancelled"])),
                _obj(
                    {
                        "type": _const("error"),
                        "id": _nullable(id_),
                        "status": INTEGER,
                        "error": _ref("OpenAIErrorObject"),
                    }
                ),
            ]
        },
    }


def _common_schemas() -> dict[str, Schema]:
    return {
        "OpenAIError": _obj({"error": _ref("OpenAIErrorObject")}),
        "OpenAIErrorObject": _obj(
            {
                "message": STRING,
                "type": _enum(OPENAI_TYPES),
                "param": _nullable(STRING),
                "code": _nullable(_enum(OPENAI_CODES)),
            },
            {"retry_after": {**INTEGER, "description": "Seconds, as `Retry-After` says."}},
        ),
        "AnthropicError": _obj(
            {
                "type": _const("error"),
                "error": _obj({"type": _enum(ANTHROPIC_TYPES), "message": STRING}),
            }
        ),
        "ModelList": _obj({"object": _const("list"), "data": _array(_ref("Model"))}),
        "Model": _obj(
            {
                "id": STRING,
                "object": _const("model"),
                "created": INTEGER,
                "owned_by": STRING,
                "provider": STRING,
                "installed": BOOLEAN,
                "cli_version": _nullable(STRING),
                # The same two numbers under every name agents read (surfaces/models.py).
                "context_length": LIMIT,
                "context_window": LIMIT,
                "max_model_len": LIMIT,
                "max_input_tokens": LIMIT,
                "max_output_tokens": LIMIT,
                "max_tokens": LIMIT,
                "top_provider": _obj(
                    {
                        "context_length": LIMIT,
                        "max_completion_tokens": LIMIT,
                        "is_moderated": BOOLEAN,
                    }
                ),
            }
        ),
        "AnthropicModelList": _obj(
            {
                "data": _array(_ref("AnthropicModel")),
                "has_more": BOOLEAN,
                "first_id": _nullable(STRING),
                "last_id": _nullable(STRING),
            }
        ),
        "AnthropicModel": _obj(
            {
                "type": _const("model"),
                "id": STRING,
                "display_name": STRING,
                "created_at": STRING,
                "max_input_tokens": LIMIT,
                "max_tokens": LIMIT,
            }
        ),
        "CompatibilityReport": _obj(
            {
                "object": _const("compatibility"),
                "surface": _enum(["chat", "responses", "messages"]),
                "model": {},
                "routes_to": _nullable(_obj({"provider": STRING, "model": STRING})),
                "parameters": _array(STRING),
                "rejected": {"type": "object", "additionalProperties": STRING},
                "clis": {
                    "type": "object",
                    "additionalProperties": _obj(
                        {
                            "model": STRING,
                            "honoured": _array(STRING),
                            "ignored": _array(STRING),
                            "rejected": {"type": "object", "additionalProperties": STRING},
                        },
                        {"applied_by_cliwrap": _array(STRING)},
                    ),
                },
            }
        ),
        "Session": _obj(
            {
                "id": STRING,
                "object": _const("session"),
                "name": _nullable(STRING),
                "conversation_id": STRING,
                "provider": STRING,
                "model": STRING,
                "turns": INTEGER,
                "live": BOOLEAN,
                "cli_session_id": _nullable(STRING),
                "usage": _obj(
                    {"input_tokens": INTEGER, "output_tokens": INTEGER, "cached_tokens": INTEGER}
                ),
                "created_at": {"type": "number"},
                "updated_at": {"type": "number"},
            }
        ),
        "SessionList": _obj(
            {
                "object": _const("list"),
                "data": {"type": "array", "items": _ref("Session")},
                "has_more": BOOLEAN,
            }
        ),
        "SessionDeleted": _obj(
            {"id": STRING, "object": _const("session.deleted"), "deleted": _const(True)}
        ),
        "RunView": _obj(
            {
                "id": STRING,
                "surface": _enum(["chat_completions", "responses", "messages", "websocket"]),
                "key": STRING,
                "model": STRING,
                "provider": STRING,
                "stream": BOOLEAN,
                "state": {
                    "type": "string",
                    "description": "queued, running, or the outcome: finished, cancelled, "
                    "disconnected or failed:<kind>.",
                },
                "started_at": {"type": "number", "description": "Unix time it was accepted."},
                "first_output_ms": _nullable({"type": "number"}),
                "duration_ms": _nullable({"type": "number"}),
                "status": _nullable(INTEGER),
            }
        ),
        "RunList": _obj(
            {
                "live": _array(_ref("RunView")),
                "queued": INTEGER,
                "recent": _array(_ref("RunView")),
            }
        ),
        "UsageList": _obj(
            {
                "object": _const("list"),
                "data": {"type": "array", "items": _ref("UsageRow")},
                "totals": _obj(USAGE_COUNTERS),
            }
        ),
        "UsageRow": _obj(
            {
                "key": {**STRING, "description": 'The key\'s name ("" with no keys).'},
                "model": STRING,
                "date": {**STRING, "format": "date", "description": "The UTC day."},
                **USAGE_COUNTERS,
            }
        ),
        "Health": _obj(
            {
                "status": _enum(["ok", "draining"]),
                "version": STRING,
                "running": INTEGER,
                "waiting": INTEGER,
                "key_required": BOOLEAN,
                "providers": {
                    "type": "object",
                    "additionalProperties": _obj({"installed": BOOLEAN}),
                },
            }
        ),
        "Version": _obj(
            {
                "version": STRING,
                "python": STRING,
                "clis": {
                    "type": "object",
                    "description": "Each enabled CLI's version; null when it is not installed "
                    "or did not say.",
                    "additionalProperties": {"type": ["string", "null"]},
                },
            }
        ),
    }


def _json(schema: str) -> Schema:
    return {"application/json": {"schema": _ref(schema)}}


def _stream(data: str) -> Schema:
    return {
        "text/event-stream": {
            "schema": {"type": "string"},
            "x-sse-data": _ref(data),
        }
    }


_WHEN = {
    400: (
        "Invalid request: not JSON (nesting deeper than 64, NaN, Infinity, a NUL character or "
        "an unpaired surrogate in any string included), a missing or wrong field (`param` "
        "names it), an empty user message, a model name that could be taken for a CLI option "
        "or holds whitespace or control characters; `context_length_exceeded` for input over "
        "`limits.max_input_chars`, or a prompt the CLI's backend found too long."
    ),
    401: "Missing or wrong API key, or the CLI's own login failed.",
    403: "Only an admin key may see another key's usage.",
    404: "No such model (`model_not_found`), or no such route.",
    405: "The path does not take this method; `Allow` lists those it takes.",
    409: (
        "`request_cancelled`: the request was cancelled with `DELETE /v1/requests/{id}`; "
        "`conversation_superseded`: a newer turn of the conversation took over."
    ),
    413: "The body is larger than `limits.max_body_bytes`.",
    429: (
        "A rate limit (`rate_limit_exceeded`: this address's or this key's requests per minute "
        'for the endpoint group; README, "Rate limits"), the key\'s concurrent runs '
        "(`concurrency_limit_exceeded`), the key's budget for its period (`budget_exceeded`), "
        "the backend's rate limit, or all slots busy and the queue full (`queue_full`); "
        "`Retry-After` says when to try again."
    ),
    502: "The CLI or its backend failed, or the answer is not the JSON asked for.",
    503: "The CLI is not installed, the backend is overloaded, or the server is draining.",
    504: "A deadline passed (first output, idle or total).",
}
_ALLOW = {
    "Allow": {
        "description": "The methods the path takes.",
        "schema": {"type": "string"},
    }
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


_ALIAS = "An alias of the header without `Claude-`; that one wins when both are sent."


def _errors(schema: str, statuses: list[int]) -> dict[str, Schema]:
    """The error responses, each in ``schema``; every path can answer 405 and 429 (the
    rate limits count every request)."""
    responses: dict[str, Schema] = {}
    for status in sorted({*statuses, 405, 429}):
        responses[str(status)] = {"description": _WHEN[status], "content": _json(schema)}
        if status == 405:
            responses[str(status)]["headers"] = _ALLOW
        if status == 429:
            responses[str(status)]["headers"] = _RETRY_AFTER
    return responses


RUN_ERRORS = [400, 401, 404, 409, 413, 429, 502, 503, 504]

HEADER_PARAMETERS: list[Schema] = [
    {"name": "X-Reasoning-Effort", "in": "header", "schema": EFFORT},
    {"name": "X-Thinking-Budget", "in": "header", "schema": INTEGER},
    {"name": "X-Max-Turns", "in": "header", "schema": TOKENS},
    {"name": "X-Claude-Effort", "in": "header", "schema": EFFORT, "description": _ALIAS},
    {"name": "X-Claude-Max-Thinking-Tokens", "in": "header", "schema": INTEGER},
    {"name": "X-Claude-Max-Turns", "in": "header", "schema": TOKENS, "description": _ALIAS},
    {
        "name": "X-Claude-Thinking",
        "in": "header",
        "schema": _enum(["disabled", "enabled", "adaptive"]),
        "description": "`disabled`: X-Thinking-Budget 0; the others leave the budget be.",
    },
]
"""The generation headers (surfaces/params.py): cliwrap's own, then an earlier wrapper's."""

_ANTHROPIC_CLIENT = {
    "name": "anthropic-version",
    "in": "header",
    "schema": STRING,
    "description": "Sent by Anthropic clients: the answer (and its errors) in Anthropic's shape.",
}


def _run(summary: str, request: str, answer: str, stream: str, errors: str) -> Schema:
    """A POST that runs a CLI: JSON body in, a JSON answer or an SSE stream out."""
    return {
        "post": {
            "summary": summary,
            "security": [{"bearer": []}, {"apiKey": []}, {}],
            "parameters": HEADER_PARAMETERS,
            "requestBody": {"required": True, "content": _json(request)},
            "responses": {
                "200": {
                    "description": "The answer, or with `stream: true` its event stream.",
                    "content": {**_json(answer), **_stream(stream)},
                },
                **_errors(errors, RUN_ERRORS),
            },
        }
    }


def document(version: str) -> dict[str, Any]:
    """The OpenAPI document for this server at ``version``."""
    return {
        "openapi": "3.1.1",
        "info": {
            "title": "cliwrap",
            "version": version,
            "description": (
                "OpenAI- and Anthropic-compatible API over the Claude Code, Gemini CLI, "
                "Qwen Code and Codex CLI command-line tools. SSE streams name the schema of "
                "each event's data in `x-sse-data`; the WebSocket route names its frames' "
                "schemas in `x-websocket`."
            ),
        },
        "paths": {
            "/v1/chat/completions": _run(
                "OpenAI Chat Completions",
                "ChatCompletionRequest",
                "ChatCompletion",
                "ChatStreamData",
                "OpenAIError",
            ),
            "/v1/responses": _run(
                "OpenAI Responses",
                "ResponsesRequest",
                "Response",
                "ResponseStreamEvent",
                "OpenAIError",
            ),
            "/v1/messages": _run(
                "Anthropic Messages",
                "MessagesRequest",
                "Message",
                "MessageStreamEvent",
                "AnthropicError",
            ),
            "/v1/messages/count_tokens": {
                "post": {
                    "summary": "Anthropic token count (an estimate)",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "requestBody": {"required": True, "content": _json("CountTokensRequest")},
                    "responses": {
                        "200": {
                            "description": "The estimate.",
                            "content": _json("CountTokensResponse"),
                        },
                        **_errors("AnthropicError", [400, 401, 413]),
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "summary": "The models each CLI serves, with install state and token limits",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "parameters": [
                        _ANTHROPIC_CLIENT,
                        *(
                            {"name": name, "in": "query", "schema": STRING}
                            for name in ("limit", "after_id", "before_id")
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "The models: Anthropic's page for Anthropic clients.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "anyOf": [_ref("ModelList"), _ref("AnthropicModelList")]
                                    }
                                }
                            },
                        },
                        **_errors("OpenAIError", [400, 401]),
                    },
                }
            },
            "/v1/models/{model_id}": {
                "get": {
                    "summary": "One model: any name a request may use (`claude/opus`, `gpt-4o`)",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "parameters": [
                        {"name": "model_id", "in": "path", "required": True, "schema": STRING},
                        _ANTHROPIC_CLIENT,
                    ],
                    "responses": {
                        "200": {
                            "description": "The model.",
                            "content": {
                                "application/json": {
                                    "schema": {"anyOf": [_ref("Model"), _ref("AnthropicModel")]}
                                }
                            },
                        },
                        **_errors("OpenAIError", [401, 404]),
                    },
                }
            },
            "/v1/compatibility": {
                "post": {
                    "summary": "Which of a request's parameters each CLI honours, ignores, rejects",
                    "description": (
                        "The body is a request of the surface named by `surface` (Chat "
                        "Completions by default; `model` and the messages may be left out). "
                        "Nothing runs."
                    ),
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "parameters": [
                        {
                            "name": "surface",
                            "in": "query",
                            "schema": _enum(["chat", "responses", "messages"]),
                        },
                        *HEADER_PARAMETERS,
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": OBJECT}},
                    },
                    "responses": {
                        "200": {
                            "description": "The verdicts, per CLI.",
                            "content": _json("CompatibilityReport"),
                        },
                        **_errors("OpenAIError", [400, 401, 413]),
                    },
                }
            },
            "/v1/ws": {
                "get": {
                    "summary": "WebSocket: several runs on one connection",
                    "description": (
                        "Upgrade to a WebSocket carrying JSON text frames: the client sends "
                        "`WebSocketClientFrame`s and the server answers with "
                        "`WebSocketServerFrame`s carrying the request's id."
                    ),
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "responses": {
                        "101": {"description": "Switching to the WebSocket."},
                        "400": {
                            "description": "Not a WebSocket upgrade request.",
                            "content": _json("OpenAIError"),
                        },
                        **_errors("OpenAIError", []),
                    },
                    "x-websocket": {
                        "client": _ref("WebSocketClientFrame"),
                        "server": _ref("WebSocketServerFrame"),
                    },
                }
            },
            "/v1/sessions": {
                "get": {
                    "summary": "Your conversations, most recently used first",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                        },
                        {"name": "before", "in": "query", "schema": {"type": "number"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "Your conversations, most recently used first.",
                            "content": _json("SessionList"),
                        },
                        **_errors("OpenAIError", [400, 401]),
                    },
                }
            },
            "/v1/sessions/stats": {
                "get": {
                    "summary": "Your conversations' totals and the live CLI processes",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "responses": {
                        "200": {
                            "description": "Your conversations' totals and the live CLI processes.",
                            "content": {"application/json": {"schema": OBJECT}},
                        },
                        **_errors("OpenAIError", [401]),
                    },
                }
            },
            "/v1/sessions/{session_id}": {
                "get": {
                    "summary": "One conversation, by its id or the name its client gave it",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "parameters": [
                        {"name": "session_id", "in": "path", "required": True, "schema": STRING}
                    ],
                    "responses": {
                        "200": {"description": "The conversation.", "content": _json("Session")},
                        **_errors("OpenAIError", [401, 404]),
                    },
                },
                "delete": {
                    "summary": "Forget a conversation: its CLI process ends, its session files go",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "parameters": [
                        {"name": "session_id", "in": "path", "required": True, "schema": STRING}
                    ],
                    "responses": {
                        "200": {"description": "Deleted.", "content": _json("SessionDeleted")},
                        **_errors("OpenAIError", [401, 404]),
                    },
                },
            },
            "/v1/usage": {
                "get": {
                    "summary": "Usage per key, model and UTC day",
                    "description": (
                        "An admin key (or anyone, on a server without keys) sees every key's"
                        " usage, or one key's with `key`; any other key sees only its own."
                    ),
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "parameters": [
                        {
                            "name": "since",
                            "in": "query",
                            "schema": {**STRING, "format": "date"},
                            "description": "First day (UTC), included; default: the 1st of"
                            " this month.",
                        },
                        {
                            "name": "until",
                            "in": "query",
                            "schema": {**STRING, "format": "date"},
                            "description": "Last day (UTC), included; default: today.",
                        },
                        {
                            "name": "key",
                            "in": "query",
                            "schema": STRING,
                            "description": "One key's usage (by name).",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The rows and their totals.",
                            "content": _json("UsageList"),
                        },
                        **_errors("OpenAIError", [400, 401, 403]),
                    },
                }
            },
            "/v1/warmup/stats": {
                "get": {
                    "summary": "The warm-up strategy and its ready processes",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "responses": {
                        "200": {
                            "description": "The warm-up strategy and its ready processes.",
                            "content": {"application/json": {"schema": OBJECT}},
                        },
                        **_errors("OpenAIError", [401]),
                    },
                }
            },
            "/v1/requests": {
                "get": {
                    "summary": "Live chat requests, the queue, and the last 100 that ended "
                    "(a key that is not an admin sees only its own)",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "responses": {
                        "200": {"description": "The runs.", "content": _json("RunList")},
                        **_errors("OpenAIError", [401]),
                    },
                }
            },
            "/v1/requests/{run_id}": {
                "delete": {
                    "summary": "Cancel a live request: its CLI is stopped and reaped, its "
                    "client gets a request_cancelled error (a 409, or an error event in a "
                    "stream that had started)",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "parameters": [
                        {
                            "name": "run_id",
                            "in": "path",
                            "required": True,
                            "description": "The request's X-Request-Id; on the WebSocket, "
                            "the connection's X-Request-Id, ':' and the request frame's id.",
                            "schema": STRING,
                        }
                    ],
                    "responses": {
                        "200": {"description": "Cancelled.", "content": _json("RunView")},
                        **_errors("OpenAIError", [401, 404]),
                    },
                }
            },
            "/": {
                "get": {
                    "summary": "The dashboard (no key needed: the page asks for one)",
                    "responses": {
                        "200": {
                            "description": "The dashboard's page.",
                            "content": {"text/html": {"schema": STRING}},
                        },
                        **_errors("OpenAIError", []),
                    },
                }
            },
            "/dashboard/{name}": {
                "get": {
                    "summary": "The dashboard's scripts and style (no key needed)",
                    "parameters": [
                        {"name": "name", "in": "path", "required": True, "schema": STRING}
                    ],
                    "responses": {
                        "200": {
                            "description": "One of the dashboard's files.",
                            "content": {
                                "text/javascript": {"schema": STRING},
                                "text/css": {"schema": STRING},
                            },
                        },
                        **_errors("OpenAIError", [404]),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness and load (no key needed)",
                    "responses": {
                        "200": {"description": "Status.", "content": _json("Health")},
                        **_errors("OpenAIError", []),
                    },
                }
            },
            "/version": {
                "get": {
                    "summary": "cliwrap's, Python's and each CLI's version (no key needed)",
                    "responses": {
                        "200": {"description": "Versions.", "content": _json("Version")},
                        **_errors("OpenAIError", []),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text format; OpenMetrics when asked for)",
                    "security": [{"bearer": []}, {"apiKey": []}, {}],
                    "responses": {
                        "200": {
                            "description": "The metrics, in Prometheus' text exposition format.",
                            "content": {
                                "text/plain": {"schema": STRING},
                                "application/openmetrics-text": {"schema": STRING},
                            },
                        },
                        **_errors("OpenAIError", [401]),
                    },
                }
            },
            "/v1/auth/status": {
                "get": {
                    "summary": "Each CLI's login: installed, version, method, healthy, checked_at",
                    "responses": {
                        "200": {
                            "description": "`providers`: per CLI `installed`, `version`, "
                            "`method`, `healthy` (true, false, or null: unknown), `checked_at` "
                            "(ISO 8601 or null), `hint`, `detail`; `authenticated` and "
                            "`server_info` as the predecessors had them.",
                            "content": {"application/json": {"schema": OBJECT}},
                        },
                        **_errors("OpenAIError", [401]),
                    },
                }
            },
            "/healthz/deep": {
                "get": {
                    "summary": "Readiness: every enabled CLI's login probed now (no key needed)",
                    "responses": {
                        "200": {
                            "description": "At least one CLI is installed and logged in.",
                            "content": {"application/json": {"schema": OBJECT}},
                        },
                        "503": {
                            "description": "No CLI is installed and logged in (per-CLI detail).",
                            "content": {"application/json": {"schema": OBJECT}},
                        },
                        **_errors("OpenAIError", []),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document (no key needed)",
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": {"application/json": {"schema": OBJECT}},
                        },
                        **_errors("OpenAIError", []),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            },
            "schemas": {
                **_common_schemas(),
                **_chat_schemas(),
                **_responses_schemas(),
                **_anthropic_schemas(),
                **_websocket_schemas(),
            },
        },
    }
