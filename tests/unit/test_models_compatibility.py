"""Token limits (config, catalog, tables), Anthropic's model pages, and /v1/compatibility's
verdicts, without a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliwrap.config import ConfigError, ModelLimits, load_config
from cliwrap.core.errors import ApiError
from cliwrap.providers import PROVIDERS
from cliwrap.providers.codex import CodexProvider
from cliwrap.providers.limits import TokenLimits, limits_for
from cliwrap.providers.routing import Catalog
from cliwrap.server.compatibility import report
from cliwrap.surfaces.models import ModelEntry, anthropic_page

DEFAULTS = {n: p.defaults for n, p in PROVIDERS.items()}
CONFIG = load_config(environ={}, provider_defaults=DEFAULTS)
CATALOG = Catalog.of(CONFIG.providers)


def test_limits_come_from_config_then_catalog_then_rules() -> None:
    rules = (("gpt-5*", 1, 2), ("*", 3, 4))
    configured = {"gpt-5*": ModelLimits(max_output_tokens=9)}
    catalog = {"gpt-5.5": TokenLimits(context_window=7)}
    found = limits_for("gpt-5.5", configured=configured, catalog=catalog, rules=rules)
    assert found == TokenLimits(7, 9)
    assert limits_for("o9", configured=configured, catalog=catalog, rules=rules) == TokenLimits(
        3, 4
    )
    assert limits_for("x", configured={}, catalog={}, rules=()) == TokenLimits()


def test_codex_reads_context_windows_from_its_catalog() -> None:
    listing = '{"models": [{"slug": "a", "context_window": 5}, {"slug": "b"}, "junk"]}'
    assert CodexProvider().catalog_limits(listing) == {"a": TokenLimits(context_window=5)}
    assert CodexProvider().catalog_limits("not json") == {}


def test_limits_and_cors_are_configured(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[server]\nlist_progress_models = true\n"
        "[providers.claude.limits]\nopus = { context_window = 1000000 }\n"
    )
    config = load_config(path, {"CLIWRAP_CORS_ORIGINS": "https://a, https://b"}, DEFAULTS)
    assert config.server.cors_origins == ("https://a", "https://b")
    assert config.server.list_progress_models
    assert config.providers["claude"].limits["opus"] == ModelLimits(context_window=1000000)
    path.write_text("[providers.claude.limits]\nopus = { context = 1 }\n")
    with pytest.raises(ConfigError, match="unknown key 'context'"):
        load_config(path, {}, DEFAULTS)


def test_anthropic_pages_follow_its_cursors() -> None:
    entries = [ModelEntry(name, "claude", TokenLimits(), True, None) for name in "abcde"]
    page = anthropic_page(entries, {"limit": "2", "after_id": "a"})
    assert [m["id"] for m in page["data"]] == ["b", "c"]
    assert (page["has_more"], page["first_id"], page["last_id"]) == (True, "b", "c")
    page = anthropic_page(entries, {"limit": "2", "before_id": "e"})
    assert [m["id"] for m in page["data"]] == ["c", "d"]
    assert page["has_more"] is True
    assert anthropic_page(entries, {})["has_more"] is False
    for bad in ("0", "1001", "many", "²", "٣"):
        with pytest.raises(ApiError) as caught:
            anthropic_page(entries, {"limit": bad})
        assert (caught.value.status, caught.value.param) == (400, "limit")


def test_compatibility_on_the_messages_surface() -> None:
    body = {
        "model": "sonnet",
        "max_tokens": 10,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "top_k": 5,
        "stop_sequences": ["END"],
    }
    answer = report(body, {}, "messages", CATALOG, CONFIG.xml_tools)
    assert answer["routes_to"] == {"provider": "claude", "model": "sonnet"}
    assert "messages" not in answer["parameters"]  # filled in, not reported
    claude, codex = answer["clis"]["claude"], answer["clis"]["codex"]
    assert "thinking" in claude["honoured"]
    assert "thinking" in codex["ignored"]
    assert "top_k" in claude["ignored"]
    assert "stop_sequences" in codex["applied_by_cliwrap"]
    # A field the Messages parser refuses is reported as rejected, with its message.
    answer = report({**body, "temperature": 5}, {}, "messages", CATALOG, CONFIG.xml_tools)
    assert "temperature" in answer["rejected"]
    assert "temperature" not in answer["clis"]["claude"]["honoured"]


def test_compatibility_names_an_unknown_model_and_refuses_what_it_cannot_read() -> None:
    answer = report({"model": "llama-3"}, {}, "responses", CATALOG, CONFIG.xml_tools)
    assert answer["routes_to"] is None
    assert "llama-3" in answer["rejected"]["model"]
    answer = report({}, {"X-Claude-Thinking": "sometimes"}, "chat", CATALOG, CONFIG.xml_tools)
    assert "X-Claude-Thinking" in answer["rejected"]
    many = {f"x{i}": i for i in range(65)}
    for body, surface in (([], "chat"), ({}, "grpc"), (many, "chat")):
        with pytest.raises(ApiError) as caught:
            report(body, {}, surface, CATALOG, CONFIG.xml_tools)
        assert caught.value.status == 400
