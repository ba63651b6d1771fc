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

__all__ = ["MAX_MODEL_NAME", "PROGRESS_SUFFIX", "Catalog", "Route", "check_model_name"]

PROGRESS_SUFFIX = "-progress"
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

    def resolve(self, name: str, discovered: Mapping[str, Sequence[str]] | None = None) -> Route:
        """The route for a requested model name, or a 404 ``model_not_found``.

        In order: the ``-progress`` suffix comes off; a ``model_map`` alias; an explicit
        ``provider/model``; a bare provider name (its default model); a configured model;
        a provider's name prefix (``claude-…``); a model a CLI listed (``discovered``), so
        that everything ``/v1/models`` offers can be asked for. A name that could be taken
        for a CLI option, or holds whitespace or control characters, is a 400.
        """
        _check(name, "model")  # what reaches the CLI is checked whole below
        progress = name.endswith(PROGRESS_SUFFIX)
        base = name[: -len(PROGRESS_SUFFIX)] if progress else name
        route = self._lookup(base)
        for provider, models in (discovered or {}).items():
            if route is None and provider in self.providers and base in models:
                route = Route(provider, base)
        if route is None:
            raise ApiError(
                ErrorKind.MODEL_NOT_FOUND,
                f"The model {shown(name)} does not exist or no enabled CLI serves it. "
                "GET /v1/models lists the models this server offers.",
                param="model",
            )
        check_model_name(route.model)
        return attrs.evolve(route, progress=progress)

    def _lookup(self, name: str) -> Route | None:
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
        for provider, prefixes in self.prefixes.items():
            if provider in self.providers and name.startswith(prefixes):
                return Route(provider, name)
        return None

    def listed(
        self, discovered: Mapping[str, Sequence[str]] | None = None
    ) -> Iterator[tuple[str, str]]:
        """(model name, provider) for every advertised model, ``-progress`` variants included.

        A provider's configured models come first, then those its CLI listed
        (``discovered``), then the ``model_map`` aliases.
        """
        discovered = discovered or {}
        for provider, settings in self.providers.items():
            found = discovered.get(provider, ())
            names = dict.fromkeys([*settings.models, *found, *settings.model_map])
            for model in names:
                yield model, provider
                yield model + PROGRESS_SUFFIX, provider
