"""Model names to routes."""

from __future__ import annotations

import pytest

from cliwrap.config import ProviderConfig
from cliwrap.errors import ApiError, ErrorKind
from cliwrap.routing import Catalog, Route

CATALOG = Catalog(
    {
        "claude": ProviderConfig(
            command="claude",
            models=("opus", "sonnet", "haiku"),
            default_model="sonnet",
            model_map={"gpt-4o": "sonnet", "gpt-4o-mini": "haiku"},
        )
    },
    {"claude": ("claude-",)},
)


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("sonnet", Route("claude", "sonnet")),
        ("opus-progress", Route("claude", "opus", progress=True)),
        ("claude-sonnet-4-6", Route("claude", "claude-sonnet-4-6")),
        ("claude-opus-4-1-20250805-progress", Route("claude", "claude-opus-4-1-20250805", True)),
        ("gpt-4o", Route("claude", "sonnet")),
        ("gpt-4o-mini-progress", Route("claude", "haiku", progress=True)),
        ("claude/haiku", Route("claude", "haiku")),
        ("claude/", Route("claude", "sonnet")),
        ("claude", Route("claude", "sonnet")),
    ],
)
def test_resolve(name: str, route: Route) -> None:
    assert CATALOG.resolve(name) == route


@pytest.mark.parametrize("name", ["gpt-5", "gemini-2.5-pro", "foo/bar", "-progress", ""])
def test_unknown_models_are_404_model_not_found(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        CATALOG.resolve(name)
    assert caught.value.kind is ErrorKind.MODEL_NOT_FOUND
    assert caught.value.status == 404
    assert caught.value.param == "model"


def test_listing_has_each_model_and_its_progress_variant() -> None:
    names = [name for name, _ in CATALOG.listed()]
    assert names[:2] == ["opus", "opus-progress"]
    assert "gpt-4o" in names
    assert "gpt-4o-progress" in names
    assert len(names) == len(set(names)) == 10


def test_disabled_providers_do_not_route() -> None:
    with pytest.raises(ApiError):
        Catalog({}, {"claude": ("claude-",)}).resolve("claude-sonnet-4-6")
