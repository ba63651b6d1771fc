"""Model names ─► which CLI runs, with which of its models, in which mode.

Pure: a :class:`Catalog` built once from the config answers every lookup.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import NoReturn

import attrs

from ..config import ProviderConfig
from ..core.errors import ApiError, ErrorKind
from ..core.fields import shown

__all__ = [
    "CHAT_SUFFIX",
    "MAX_MODEL_NAME",
    "PROGRESS_SUFFIX",
    "Catalog",
    "Route",
    "check_model_name",
]

PROGRESS_SUFFIX = "-progress"
CHAT_SUFFIX = "-chat"
"""An earlier wrapper's "chat mode" (no file system, no tools but the web): what every
cliwrap run is anyway, so the suffix is taken off (``claude-sonnet-4-6-chat-progress``)."""
MAX_MODEL_NAME = 256
"""The longest model name taken: the names of every CLI's models are far shorter."""


def check_model_name(name: str, param: str = "model") -> None:
    """A 400 naming ``param`` unless ``name`` could be a model's name.

    A model name ends up as a CLI argument (``--model NAME``, ``-m NAME``): whitespace or a
    control character (NUL above all) has no place in any model's name, and a CLI model
    that starts with ``-`` could be taken for an option (``gemini/--yolo``).
    """
    _check(name, param)
    if name.startswith("-"):
        _refuse(name, "must not start with '-' (it could be taken for a CLI option)", param)


def _check(name: str, param: str) -> None:
    if len(name) > MAX_MODEL_NAME:
        _refuse(name, f"must be at most {MAX_MODEL_NAME} characters", param)
    if not name.isprintable() or any(c.isspace() for c in name):
        _refuse(name, "must not contain whitespace or control characters", param)


def _refuse(name: str, problem: str, param: str) -> NoReturn:
    raise ApiError(
        ErrorKind.INVALID_REQUEST,
        f"The model name {shown(name)} is not valid: a model name {problem}.",
        param=param,
    )


@attrs.frozen
class Route:
    provider: str
    model: str
    """The model name as the CLI takes it."""
    progress: bool = False


@attrs.frozen
class Catalog:
    """The enabled providers' models and routing rules."""

    providers: Mapping[str, ProviderConfig]
    prefixes: Mapping[str, tuple[str, ...]]
    aliases: Mapping[str, Route] = attrs.field(factory=dict)
    """Built-in aliases (the providers' ``aliases``), below every configured ``model_map``."""
    vendor_prefixes: Mapping[str, str] = attrs.field(factory=dict)
    """Per provider, a prefix earlier wrappers put before its model names (``qwen-``)."""

    @classmethod
    def of(cls, providers: Mapping[str, ProviderConfig]) -> Catalog:
        """The catalog of ``providers`` (the enabled ones), with their built-in rules."""
        from . import PROVIDERS  # the package imports every provider module; this one none

        known = {name: PROVIDERS[name] for name in providers}
        return cls(
            providers,
            {name: p.prefixes for name, p in known.items()},
            {
                alias: Route(name, model)
                for name, p in known.items()
                for alias, model in p.aliases.items()
            },
            {name: p.vendor_prefix for name, p in known.items() if p.vendor_prefix},
        )

    def resolve(self, name: str, discovered: Mapping[str, Sequence[str]] | None = None) -> Route:
        """The route for a requested model name, or a 404 ``model_not_found``.

        In order: the ``-progress`` suffix comes off; a ``model_map`` alias; an explicit
        ``provider/model``; a bare provider name (its default model); a configured model;
        a model a CLI listed (``discovered``), so that everything ``/v1/models`` offers can be
        asked for; a built-in alias (``gpt-4o``). Then, with a ``-chat`` suffix
        taken off, those again, and a provider's name prefix (``claude-…``). A provider's
        vendor prefix comes off the CLI's model (``qwen-qwen3-coder-plus``). A name that
        could be taken for a CLI option, or holds whitespace or control characters, is a 400.
        """
        _check(name, "model")  # what reaches the CLI is checked whole below
        progress = name.endswith(PROGRESS_SUFFIX)
        base = name[: -len(PROGRESS_SUFFIX)] if progress else name
        route = self._exact(base, discovered or {})
        if route is None:
            bare = base[: -len(CHAT_SUFFIX)] if base.endswith(CHAT_SUFFIX) else base
            route = self._exact(bare, discovered or {}) or self._by_prefix(bare)
        if route is None:
            raise ApiError(
                ErrorKind.MODEL_NOT_FOUND,
                f"The model {shown(name)} does not exist or no enabled CLI serves it. "
                "GET /v1/models lists the models this server offers.",
                param="model",
            )
        route = attrs.evolve(route, model=self._unprefixed(route), progress=progress)
        check_model_name(route.model)
        return route

    def _exact(self, name: str, discovered: Mapping[str, Sequence[str]]) -> Route | None:
        """The route for a name some rule names exactly (every rule but the prefixes)."""
        for provider, settings in self.providers.items():
            if name in settings.model_map:
                return Route(provider, settings.model_map[name])
        provider, slash, model = name.partition("/")
        if slash and provider in self.providers:
            return Route(provider, model or self.providers[provider].default_model)
        if name in self.providers:
            return Route(name, self.providers[name].default_model)
        for provider, settings in self.providers.items():
            if name in settings.models:
                return Route(provider, name)
        for provider, models in discovered.items():
            if provider in self.providers and name in models:
                return Route(provider, name)
        alias = self.aliases.get(name)
        if alias is not None and alias.provider in self.providers:
            return alias
        return None

    def needs_discovered(self, name: str) -> bool:
        """Whether ``name`` may route elsewhere once the CLIs' own lists are known: a
        built-in alias yields to a CLI that lists the name itself (Codex's ``o3``)."""
        base = name.removesuffix(PROGRESS_SUFFIX)
        return base in self.aliases or base.removesuffix(CHAT_SUFFIX) in self.aliases

    def _by_prefix(self, name: str) -> Route | None:
        for provider, prefixes in self.prefixes.items():
            if provider in self.providers and name.startswith(prefixes):
                return Route(provider, name)
        return None

    def _unprefixed(self, route: Route) -> str:
        prefix = self.vendor_prefixes.get(route.provider)
        if prefix and route.model.startswith(prefix + route.provider):
            return route.model[len(prefix) :]
        return route.model

    def listed(
        self, discovered: Mapping[str, Sequence[str]] | None = None, *, progress: bool = False
    ) -> Iterator[tuple[str, str]]:
        """(model name, provider) for every advertised model, with each one's ``-progress``
        twin if ``progress``.

        A provider's configured models come first, then those its CLI listed
        (``discovered``), then the ``model_map`` aliases. The built-in aliases are not
        listed: they are names for clients that cannot be told another, not choices.
        """
        discovered = discovered or {}
        for provider, settings in self.providers.items():
            found = discovered.get(provider, ())
            names = dict.fromkeys([*settings.models, *found, *settings.model_map])
            for model in names:
                yield model, provider
                if progress:
                    yield model + PROGRESS_SUFFIX, provider
