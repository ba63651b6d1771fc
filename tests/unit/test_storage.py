"""The conversation store on a real SQLite file: what it keeps, whom it shows it to, how it
fails to open, and that it stays right under many concurrent calls."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import hypothesis.strategies as st
import pytest
import trio
from hypothesis import given, settings

from cliwrap.storage import (
    SCHEMA_VERSION,
    ConversationRecord,
    StorageError,
    Store,
    StoredResponse,
    UnknownConversationError,
)
from cliwrap.storage import sqlite as store_module


def conversation(id: str = "conv_1", key_id: str = "key-a", **changes: Any) -> ConversationRecord:
    fields: dict[str, Any] = {
        "provider": "claude",
        "model": "sonnet",
        "shape": "shape-1",
        "head": f"head-of-{id}",
        "created_at": 1000.0,
        "updated_at": 1000.0,
    }
    return ConversationRecord(id=id, key_id=key_id, **{**fields, **changes})


def response(id: str = "resp_1", key_id: str = "key-a", **changes: Any) -> StoredResponse:
    fields: dict[str, Any] = {
        "conversation_id": "conv_1",
        "head": "h1",
        "created_at": 1000.0,
        "body": json.dumps({"id": id}),
    }
    return StoredResponse(id=id, key_id=key_id, **{**fields, **changes})


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "state" / "cliwrap.sqlite3") as opened:
        yield opened


async def test_a_conversation_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folders" / "cliwrap.sqlite3"
    record = conversation(
        cli_session_id="5f0c-session",
        directory="/tmp/cliwrap-conv",
        turns=3,
        input_tokens=1200,
        output_tokens=80,
        cached_tokens=1000,
        created_at=1000.5,
        updated_at=1234.25,
    )
    async with await Store.open(path) as store:
        await store.put(record)
        await store.append_turns(record.id, [{"role": "user", "content": "My name is Bob"}])
    async with await Store.open(str(path)) as store:
        assert await store.get("key-a", "conv_1") == record
        assert await store.turns("conv_1") == [{"role": "user", "content": "My name is Bob"}]


async def test_put_replaces_the_conversation_with_the_same_id(store: Store) -> None:
    await store.put(conversation())
    later = conversation(head="head-2", turns=2, input_tokens=10, updated_at=2000.0)
    await store.put(later)
    assert await store.get("key-a", "conv_1") == later
    assert (await store.stats())["conversations"] == 1


async def test_put_never_hands_a_conversation_to_another_key(store: Store) -> None:
    await store.put(conversation())
    with pytest.raises(StorageError, match="'conv_1' is another key's"):
        await store.put(conversation(key_id="key-b", head="stolen"))
    assert await store.get("key-a", "conv_1") == conversation()
    assert await store.get("key-b", "conv_1") is None


async def test_a_key_never_sees_another_keys_rows(store: Store) -> None:
    mine = conversation(turns=1, input_tokens=5)
    await store.put(mine)
    await store.append_turns(mine.id, [{"role": "user", "content": "hi"}])
    await store.put_response(response())

    assert await store.get("key-b", mine.id) is None
    assert await store.find("key-b", "claude", "sonnet", mine.head) is None
    assert await store.list("key-b") == []
    assert await store.get_response("key-b", "resp_1") is None
    assert await store.delete("key-b", mine.id) is None
    assert await store.stats("key-b") == {
        "conversations": 0,
        "turns": 0,
        "messages": 0,
        "responses": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_tokens": 0,
        "oldest": None,
        "newest": None,
    }
    # The owner still has everything, untouched by the other key's delete.
    assert await store.get("key-a", mine.id) == mine
    assert await store.find("key-a", "claude", "sonnet", mine.head) == mine
    assert await store.list("key-a") == [mine]
    assert await store.get_response("key-a", "resp_1") == response()
    assert (await store.stats("key-a"))["messages"] == 1


async def test_the_open_server_key_is_a_key_like_any_other(store: Store) -> None:
    await store.put(conversation(key_id=""))
    assert await store.get("", "conv_1") is not None
    assert await store.get("key-a", "conv_1") is None


async def test_find_matches_the_current_head_only(store: Store) -> None:
    await store.put(conversation(head="h1"))
    assert await store.find("key-a", "claude", "sonnet", "h1") is not None
    await store.put(conversation(head="h2", updated_at=1001.0))
    assert await store.find("key-a", "claude", "sonnet", "h1") is None
    assert await store.find("key-a", "claude", "sonnet", "h2") is not None


async def test_find_takes_provider_and_model_into_account(store: Store) -> None:
    await store.put(conversation(head="h"))
    assert await store.find("key-a", "claude", "opus", "h") is None
    assert await store.find("key-a", "codex", "sonnet", "h") is None


async def test_find_prefers_the_most_recently_used_of_equal_heads(store: Store) -> None:
    await store.put(conversation("conv_new", head="h", updated_at=3000.0))
    await store.put(conversation("conv_old", head="h", updated_at=2000.0))
    found = await store.find("key-a", "claude", "sonnet", "h")
    assert found is not None
    assert found.id == "conv_new"


async def test_list_pages_from_the_most_recently_used(store: Store) -> None:
    for n in range(5):
        await store.put(conversation(f"conv_{n}", updated_at=1000.0 + n))
    await store.put(conversation("conv_other", key_id="key-b", updated_at=5000.0))

    first = await store.list("key-a", limit=2)
    assert [c.id for c in first] == ["conv_4", "conv_3"]
    rest = await store.list("key-a", before=first[-1].updated_at)
    assert [c.id for c in rest] == ["conv_2", "conv_1", "conv_0"]
    assert await store.list("key-a", limit=0) == []
    with pytest.raises(ValueError, match="limit must be >= 0"):
        await store.list("key-a", limit=-1)


async def test_delete_takes_the_transcript_and_responses_with_it(store: Store) -> None:
    await store.put(conversation())
    await store.put(conversation("conv_2"))
    await store.append_turns("conv_1", [{"role": "user", "content": "a"}])
    await store.append_turns("conv_2", [{"role": "user", "content": "b"}])
    await store.put_response(response())
    await store.put_response(response("resp_2", conversation_id="conv_2"))

    assert await store.delete("key-a", "conv_1") == conversation()
    assert await store.get("key-a", "conv_1") is None
    assert await store.turns("conv_1") == []
    assert await store.get_response("key-a", "resp_1") is None
    assert await store.delete("key-a", "conv_1") is None
    # The other conversation keeps its own.
    assert await store.turns("conv_2") == [{"role": "user", "content": "b"}]
    assert await store.get_response("key-a", "resp_2") is not None
    stats = await store.stats()
    assert (stats["conversations"], stats["messages"], stats["responses"]) == (1, 1, 1)


async def test_turns_are_appended_in_order(store: Store) -> None:
    await store.put(conversation())
    await store.append_turns("conv_1", [{"role": "user", "content": "1"}])
    await store.append_turns("conv_1", [])
    await store.append_turns(
        "conv_1",
        [
            {"role": "assistant", "content": [{"type": "text", "text": "2"}]},
            {"role": "user", "content": "3", "meta": {"n": 1.5, "ok": True, "none": None}},
        ],
    )
    assert await store.turns("conv_1") == [
        {"role": "user", "content": "1"},
        {"role": "assistant", "content": [{"type": "text", "text": "2"}]},
        {"role": "user", "content": "3", "meta": {"n": 1.5, "ok": True, "none": None}},
    ]


async def test_turns_of_an_unknown_conversation_are_refused(store: Store) -> None:
    with pytest.raises(UnknownConversationError, match="no conversation 'conv_gone'"):
        await store.append_turns("conv_gone", [{"role": "user", "content": "hi"}])
    assert (await store.stats())["messages"] == 0


async def test_a_message_that_is_not_json_appends_nothing(store: Store) -> None:
    await store.put(conversation())
    with pytest.raises(TypeError):
        await store.append_turns("conv_1", [{"ok": 1}, {"bad": object()}])
    assert await store.turns("conv_1") == []


async def test_responses_are_kept_for_their_key(store: Store) -> None:
    await store.put(conversation())
    await store.put_response(response())
    assert await store.get_response("key-a", "resp_1") == response()
    replaced = response(body='{"status": "completed"}')
    await store.put_response(replaced)
    assert await store.get_response("key-a", "resp_1") == replaced


async def test_a_response_needs_its_keys_conversation(store: Store) -> None:
    await store.put(conversation())
    with pytest.raises(UnknownConversationError, match="'conv_1' for the response's key"):
        await store.put_response(response(key_id="key-b"))
    with pytest.raises(UnknownConversationError, match="'conv_nope'"):
        await store.put_response(response(conversation_id="conv_nope"))


async def test_a_response_id_is_never_handed_to_another_key(store: Store) -> None:
    await store.put(conversation())
    await store.put(conversation("conv_b", key_id="key-b"))
    await store.put_response(response())
    with pytest.raises(StorageError, match="'resp_1' is another key's"):
        await store.put_response(response(key_id="key-b", conversation_id="conv_b"))
    assert await store.get_response("key-a", "resp_1") == response()


async def test_responses_expire_by_their_creation_time(store: Store) -> None:
    await store.put(conversation())
    await store.put(conversation("conv_b", key_id="key-b"))
    await store.put_response(response("resp_old", created_at=100.0))
    await store.put_response(response("resp_new", created_at=300.0))
    await store.put_response(
        response("resp_b", key_id="key-b", conversation_id="conv_b", created_at=100.0)
    )
    assert await store.expire_responses(200.0) == 2
    assert await store.get_response("key-a", "resp_old") is None
    assert await store.get_response("key-b", "resp_b") is None
    assert await store.get_response("key-a", "resp_new") is not None
    assert await store.expire_responses(200.0) == 0


async def test_expired_lists_every_keys_unused_conversations_oldest_first(store: Store) -> None:
    await store.put(conversation("conv_a1", updated_at=200.0))
    await store.put(conversation("conv_b1", key_id="key-b", updated_at=100.0))
    await store.put(conversation("conv_a2", updated_at=900.0))
    expired = await store.expired(500.0)
    assert [(c.key_id, c.id) for c in expired] == [("key-b", "conv_b1"), ("key-a", "conv_a1")]
    assert (await store.stats())["conversations"] == 3  # listed, not deleted


async def test_stats_add_up_per_key_and_over_all_keys(store: Store) -> None:
    await store.put(
        conversation(turns=2, input_tokens=100, output_tokens=10, cached_tokens=80,
                     created_at=50.0, updated_at=70.0)
    )  # fmt: skip
    await store.put(
        conversation("conv_2", turns=1, input_tokens=1, output_tokens=2, cached_tokens=0,
                     created_at=60.0, updated_at=90.0)
    )  # fmt: skip
    await store.put(
        conversation("conv_b", key_id="key-b", turns=5, input_tokens=7, created_at=10.0,
                     updated_at=20.0)
    )  # fmt: skip
    await store.append_turns("conv_1", [{"n": 1}, {"n": 2}])
    await store.append_turns("conv_b", [{"n": 1}])
    await store.put_response(response())

    assert await store.stats("key-a") == {
        "conversations": 2,
        "turns": 3,
        "messages": 2,
        "responses": 1,
        "input_tokens": 101,
        "output_tokens": 12,
        "cached_tokens": 80,
        "oldest": 50.0,
        "newest": 90.0,
    }
    everything = await store.stats()
    assert (everything["conversations"], everything["turns"], everything["messages"]) == (3, 8, 3)
    assert (everything["input_tokens"], everything["oldest"], everything["newest"]) == (
        108,
        10.0,
        90.0,
    )


async def test_concurrent_calls_each_get_their_own_answer(store: Store) -> None:
    found: dict[str, ConversationRecord | None] = {}

    async def one(n: int) -> None:
        record = conversation(f"conv_{n}", key_id=f"key-{n % 7}", head=f"h{n}", turns=n)
        await store.put(record)
        found[record.id] = await store.find(record.key_id, "claude", "sonnet", f"h{n}")

    async with trio.open_nursery() as nursery:
        for n in range(200):
            nursery.start_soon(one, n)
    assert found == {
        f"conv_{n}": conversation(f"conv_{n}", key_id=f"key-{n % 7}", head=f"h{n}", turns=n)
        for n in range(200)
    }
    assert (await store.stats())["conversations"] == 200


async def test_two_servers_sharing_the_file_never_number_an_entry_twice(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    async with await Store.open(path) as first, await Store.open(path) as second:
        await first.put(conversation())

        async def append(store: Store, who: str) -> None:
            for n in range(50):
                await store.append_turns("conv_1", [{"who": who, "n": n}])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(append, first, "first")
            nursery.start_soon(append, second, "second")
        turns = await second.turns("conv_1")
    assert len(turns) == 100
    for who in ("first", "second"):
        assert [t["n"] for t in turns if t["who"] == who] == list(range(50))


# Batching and order are what is under test (the unit tests above cover nested values).
MESSAGES = st.dictionaries(
    st.sampled_from(["role", "content", "n"]),
    st.none() | st.integers() | st.text(max_size=6) | st.lists(st.integers(), max_size=2),
    max_size=3,
)


@settings(max_examples=30, derandomize=True, deadline=None, database=None)
@given(batches=st.lists(st.lists(MESSAGES, max_size=4), max_size=4))
async def test_the_transcript_is_every_batch_in_order(
    batches: list[list[dict[str, Any]]],
) -> None:
    async with await Store.open(":memory:") as store:
        await store.put(conversation())
        for batch in batches:
            await store.append_turns("conv_1", batch)
        assert await store.turns("conv_1") == [message for batch in batches for message in batch]


async def test_a_closed_store_says_so_and_closes_twice_quietly(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.sqlite3")
    await store.aclose()
    await store.aclose()
    with pytest.raises(trio.ClosedResourceError, match="is closed"):
        await store.get("key-a", "conv_1")


async def test_a_new_file_has_the_current_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    await (await Store.open(path)).aclose()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


async def test_find_and_list_use_their_indexes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    await (await Store.open(path)).aclose()
    connection = sqlite3.connect(path)
    try:
        plans = {
            name: " ".join(
                row[-1] for row in connection.execute(f"EXPLAIN QUERY PLAN {query}", params)
            )
            for name, query, params in [
                ("find", store_module._FIND, ("k", "p", "m", "h")),
                ("list", store_module._LIST, ("k", 10)),
                ("list_before", store_module._LIST_BEFORE, ("k", 1.0, 10)),
                ("expired", store_module._EXPIRED, (1.0,)),
            ]
        }
    finally:
        connection.close()
    assert "conversations_by_head" in plans["find"]
    assert "conversations_by_use" in plans["list"]
    assert "conversations_by_use" in plans["list_before"]
    assert "conversations_by_age" in plans["expired"]


async def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cliwrap.sqlite3"
    path.write_bytes(b"this is not an SQLite file, just some text" * 100)
    with pytest.raises(StorageError) as caught:
        await Store.open(path)
    assert str(caught.value).startswith(f"{path}: cannot open the conversation store:")
    assert "not a database" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


async def test_a_path_that_cannot_be_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    for path in (tmp_path / "a-file" / "cliwrap.sqlite3", tmp_path):
        with pytest.raises(StorageError, match="cannot open the conversation store") as caught:
            await Store.open(path)
        assert str(caught.value).startswith(str(path))


async def test_a_file_from_a_newer_cliwrap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()
    with pytest.raises(StorageError, match="written by a newer cliwrap"):
        await Store.open(path)


async def test_a_file_with_foreign_tables_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE conversations (x)")
    connection.close()
    with pytest.raises(StorageError, match="already exists"):
        await Store.open(path)
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA user_version").fetchone() == (0,)  # left as it was
    connection.close()


def test_the_schema_has_a_column_for_every_field() -> None:
    connection = sqlite3.connect(":memory:")
    for statement in store_module.MIGRATIONS[0]:
        connection.execute(statement)
    for table, record in (("conversations", ConversationRecord), ("responses", StoredResponse)):
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        assert columns == {field.name for field in attrs.fields(record)}
    connection.close()
