"""Model names to routes, over every provider's real defaults, prefixes and aliases."""

from __future__ import annotations

import attrs
import pytest

from cliwrap.config import load_config
from cliwrap.core.errors import ApiError, ErrorKind
from cliwrap.providers import PROVIDERS
from cliwrap.providers.routing import Catalog, Route

CONFIG = load_config(environ={}, provider_defaults={n: p.defaults for n, p in PROVIDERS.items()})
PROVIDER_SETTINGS = dict(CONFIG.providers)
PROVIDER_SETTINGS["claude"] = attrs.evolve(
    PROVIDER_SETTINGS["claude"], model_map={"gpt-4o": "sonnet", "gpt-4o-mini": "haiku"}
)
CATALOG = Catalog.of(PROVIDER_SETTINGS)


@pytest.mark.parametrize(
    ("name", "route"),
    [
        # Claude Code: aliases, full ids, the model_map
        ("sonnet", Route("claude", "sonnet")),
        ("opus", Route("claude", "opus")),
        ("haiku", Route("claude", "haiku")),
        ("opus-progress", Route("claude", "opus", progress=True)),
        ("claude-sonnet-4-6", Route("claude", "claude-sonnet-4-6")),
        ("claude-opus-4-1-20250805-progress", Route("claude", "claude-opus-4-1-20250805", True)),
        ("gpt-4o", Route("claude", "sonnet")),
        ("gpt-4o-mini-progress", Route("claude", "haiku", progress=True)),
        # Gemini CLI
        ("gemini-2.5-pro", Route("gemini", "gemini-2.5-pro")),
        ("gemini-3-pro-preview", Route("gemini", "gemini-3-pro-preview")),
        ("gemini-2.5-flash-progress", Route("gemini", "gemini-2.5-flash", progress=True)),
        # Qwen Code: qwen-* and qwen3-*; qwen-auto lets the CLI choose
        ("qwen3-coder-plus", Route("qwen", "qwen3-coder-plus")),
        ("qwen3.7-max-progress", Route("qwen", "qwen3.7-max", progress=True)),
        ("qwen-max", Route("qwen", "qwen-max")),
        ("qwen-auto", Route("qwen", "qwen-auto")),
        ("qwen", Route("qwen", "qwen-auto")),
        ("qwen/my-finetune", Route("qwen", "my-finetune")),
        # Codex CLI: codex-* and gpt-5*; codex-auto lets the CLI choose
        ("gpt-5.5", Route("codex", "gpt-5.5")),
        ("gpt-5.6-sol-progress", Route("codex", "gpt-5.6-sol", progress=True)),
        ("codex-mini-latest", Route("codex", "codex-mini-latest")),
        ("codex-auto", Route("codex", "codex-auto")),
        ("codex", Route("codex", "codex-auto")),
        ("codex/o4-mini", Route("codex", "o4-mini")),
        # provider/model always works, and a bare provider name is its default model
        ("claude/haiku", Route("claude", "haiku")),
        ("gemini/anything-new", Route("gemini", "anything-new")),
        ("gemini/anything-new-progress", Route("gemini", "anything-new", progress=True)),
        ("claude/", Route("claude", "sonnet")),
        ("claude", Route("claude", "sonnet")),
        ("gemini", Route("gemini", PROVIDER_SETTINGS["gemini"].default_model)),
        # the names earlier wrappers taught: built-in OpenAI aliases, qwen-<model>, -chat
        ("gpt-4", Route("claude", "opus")),
        ("gpt-4-turbo", Route("claude", "sonnet")),
        ("gpt-3.5-turbo-progress", Route("claude", "haiku", progress=True)),
        ("o3", Route("claude", "opus")),
        ("o4-mini", Route("claude", "sonnet")),
        ("qwen-qwen3-coder-plus", Route("qwen", "qwen3-coder-plus")),
        ("qwen-qwen3-coder-progress", Route("qwen", "qwen3-coder", progress=True)),
        ("qwen/qwen-qwen3-coder-plus", Route("qwen", "qwen3-coder-plus")),
        (
            "claude-3-5-sonnet-20241022-chat-progress",
            Route("claude", "claude-3-5-sonnet-20241022", True),
        ),
        ("sonnet-chat", Route("claude", "sonnet")),
        ("qwen-qwen3-coder-plus-chat", Route("qwen", "qwen3-coder-plus")),
        ("gemini-2.5-flash-chat", Route("gemini", "gemini-2.5-flash")),
        ("qwen/deepseek-chat", Route("qwen", "deepseek-chat")),
    ],
)
def test_resolve(name: str, route: Route) -> None:
    assert CATALOG.resolve(name) == route


def test_model_map_applies_first() -> None:
    providers = dict(PROVIDER_SETTINGS)
    providers["claude"] = attrs.evolve(providers["claude"], model_map={"gemini-2.5-pro": "opus"})
    catalog = Catalog.of(providers)
    assert catalog.resolve("gemini-2.5-pro") == Route("claude", "opus")


def test_a_configured_alias_in_any_provider_wins_over_the_built_in_ones() -> None:
    providers = dict(CONFIG.providers)
    providers["codex"] = attrs.evolve(providers["codex"], model_map={"gpt-4o": "gpt-5.5"})
    catalog = Catalog.of(providers)
    assert catalog.resolve("gpt-4o") == Route("codex", "gpt-5.5")
    assert catalog.resolve("gpt-4o-mini") == Route("claude", "haiku")  # the rest stay


def test_built_in_aliases_need_their_provider() -> None:
    providers = {name: s for name, s in CONFIG.providers.items() if name != "claude"}
    with pytest.raises(ApiError) as caught:
        Catalog.of(providers).resolve("gpt-4o")
    assert caught.value.kind is ErrorKind.MODEL_NOT_FOUND


def test_a_configured_name_ending_in_chat_is_kept() -> None:
    providers = dict(CONFIG.providers)
    providers["qwen"] = attrs.evolve(providers["qwen"], models=("deepseek-chat",))
    assert Catalog.of(providers).resolve("deepseek-chat") == Route("qwen", "deepseek-chat")


@pytest.mark.parametrize(
    "name", ["gpt-4.1", "llama-3", "foo/bar", "-progress", "", "qwen2.5-coder", "gpt-6.1-sol"]
)
def test_unknown_models_are_404_model_not_found(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        CATALOG.resolve(name)
    assert caught.value.kind is ErrorKind.MODEL_NOT_FOUND
    assert caught.value.status == 404
    assert caught.value.param == "model"


def test_a_model_a_cli_listed_routes_to_it() -> None:
    discovered = {"codex": ["gpt-6.1-sol", "o3"], "gemini": ["gemini-9-ultra"]}
    assert CATALOG.resolve("gpt-6.1-sol", discovered) == Route("codex", "gpt-6.1-sol")
    # A built-in alias yields to a CLI that lists the name itself.
    assert CATALOG.needs_discovered("o3-progress")
    assert CATALOG.resolve("o3", discovered) == Route("codex", "o3")
    assert CATALOG.resolve("o3") == Route("claude", "opus")
    assert CATALOG.resolve("gpt-6.1-sol-progress", discovered).progress
    with pytest.raises(ApiError):
        CATALOG.resolve("gpt-7", discovered)


def test_listing_has_no_progress_twins_unless_asked() -> None:
    names = [name for name, _ in CATALOG.listed({"codex": ["gpt-6.1-sol"]})]
    assert names[:3] == ["opus", "sonnet", "haiku"]
    assert "gpt-6.1-sol" in names
    assert not any(name.endswith("-progress") for name in names)
    assert "gpt-4" not in names  # built-in aliases resolve but are not listed
    assert "gpt-4o" in names  # a configured model_map alias is listed


def test_listing_has_each_model_and_its_progress_variant() -> None:
    listed = list(CATALOG.listed({"gemini": ["gemini-9-ultra", "gemini-2.5-pro"]}, progress=True))
    names = [name for name, _ in listed]
    assert names[:2] == ["opus", "opus-progress"]
    assert ("gpt-4o-progress", "claude") in listed
    assert ("gemini-9-ultra", "gemini") in listed  # discovered by the CLI
    assert ("gemini-9-ultra-progress", "gemini") in listed
    assert len(names) == len(set(names))
    assert {provider for _, provider in listed} == set(PROVIDERS)


def test_disabled_providers_do_not_route() -> None:
    with pytest.raises(ApiError):
        Catalog({}, {"claude": ("claude-",)}).resolve("claude-sonnet-4-6")


@pytest.mark.parametrize(
    "name",
    [
        "gemini/--yolo",
        "claude/-p",
        "codex/--dangerously-bypass-approvals-and-sandbox-progress",
        "claude\x00x",
        "claude/so nnet",
        "claude/sonnet\n",
        "gemini/\tflash",
        "claude/" + "x" * 300,
    ],
)
def test_names_that_could_be_taken_for_options_or_hold_controls_are_400(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        CATALOG.resolve(name)
    assert caught.value.kind is ErrorKind.INVALID_REQUEST
    assert caught.value.param == "model"


def test_a_model_name_is_quoted_in_errors_cut_short() -> None:
    with pytest.raises(ApiError) as caught:
        CATALOG.resolve("nope-" + "y" * 200)
    assert caught.value.status == 404
    assert len(caught.value.message) < 200
