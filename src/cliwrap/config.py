"""Configuration: embedded defaults, an optional TOML file, environment overrides.

Config is data, validated once at startup: the TOML file becomes a mapping, the mapping
becomes frozen attrs classes through a strict cattrs converter. A typo'd key, a string where
a number belongs or a port out of range stops startup with a message that names the file,
the key and what was expected, instead of being ignored (hypercorn's ``from_toml`` ignores
typos; that is the mistake not to copy).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NewType

import attrs
import cattrs
from attrs import validators as v

from .semantics.xmltools import KNOWN_TOOLS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "BudgetsConfig",
    "Config",
    "ConfigError",
    "Deadlines",
    "HealthConfig",
    "ImagesConfig",
    "Limits",
    "ModelChain",
    "ModelLimits",
    "ProviderConfig",
    "RateLimitsConfig",
    "ServerConfig",
    "SessionsConfig",
    "StorageConfig",
    "WarmupConfig",
    "XmlToolsConfig",
    "load_config",
]

ModelChain = NewType("ModelChain", tuple[str, ...])
"""Model names tried in order (``fallback_model``: a string in the file is a chain of one)."""

_positive: Callable[[Any, Any, float], Any] = v.gt(0.0)


def _nonnegative_int(max_value: int) -> Callable[[Any, attrs.Attribute[int], int], None]:
    return v.and_(v.ge(0), v.le(max_value))


@attrs.frozen
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = attrs.field(default=8000, validator=_nonnegative_int(65535))
    api_keys: tuple[str, ...] = ()
    """Bearer keys clients must send; empty means the API is open (loopback only by default)."""
    allow_open_remote: bool = False
    """Serve without API keys on a non-loopback host. Off: such a start is refused."""
    state_dir: str = ""
    """Where the process-group ledger (and by default the conversation store) lives; empty:
    $XDG_STATE_HOME/cliwrap or ~/.local/state/cliwrap."""
    keepalive_interval: float = attrs.field(default=15.0, validator=_positive)
    shutdown_grace: float = attrs.field(default=5.0, validator=v.ge(0))
    """On SIGTERM/SIGINT, how long runs in flight may go on before they are stopped."""
    log_level: str = attrs.field(
        default="info", validator=v.in_(("debug", "info", "warning", "error"))
    )
    backlog: int = attrs.field(default=1024, validator=v.and_(v.ge(1), v.le(65535)))
    """Connections the kernel queues before the server accepts them."""
    access_log: bool = True
    """One line per request on the ``cliwrap.access`` logger."""
    log_format: str = attrs.field(default="logfmt", validator=v.in_(("logfmt", "json")))
    """The server log's lines (the access log's and every other): ``key=value`` pairs
    (logfmt) or one JSON object, rendered by structlog."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the API (``"*"``: any); empty: no CORS headers."""
    list_progress_models: bool = False
    """List each model's ``-progress`` twin in ``GET /v1/models`` (asking for one always works;
    listing them doubles every model picker)."""


@attrs.frozen
class Limits:
    max_concurrent: int = attrs.field(default=4, validator=v.ge(1))
    """CLIs running at once; each is a real process with real memory."""
    max_queue: int = attrs.field(default=32, validator=v.ge(0))
    """Requests that may wait for a free CLI slot; beyond that, 429."""
    max_body_bytes: int = attrs.field(default=32 * 1024 * 1024, validator=v.ge(1024))
    max_input_chars: int = attrs.field(default=4_000_000, validator=v.ge(1))
    """The most characters of input (messages, tool calls and tool definitions) one request
    may carry; beyond it, a 400 ``context_length_exceeded`` before any CLI runs. The default
    is about a million tokens, the largest context window of any of the CLIs' models."""


@attrs.frozen
class Deadlines:
    first_output: float = attrs.field(default=120.0, validator=_positive)
    """From the CLI's start to its first answer text or thinking."""
    idle: float = attrs.field(default=120.0, validator=_positive)
    """Longest silence between answer pieces once the answer has started."""
    total: float = attrs.field(default=900.0, validator=_positive)
    """The whole request, queueing included."""
    kill_grace: float = attrs.field(default=2.0, validator=v.ge(0))
    """After the polite signal, how long the CLI has before its process group is killed."""


@attrs.frozen
class XmlToolsConfig:
    """Recognising clients whose system prompt defines XML-style tools (Roo Code, Cline)."""

    enabled: bool = True
    threshold: float = attrs.field(default=5.0, validator=_positive)
    """The detection score at which a prompt counts as defining XML tools."""
    known_tools: tuple[str, ...] = KNOWN_TOOLS
    """Tool names that count as XML tools when the prompt uses them as tags."""


@attrs.frozen
class ImagesConfig:
    """Images given by http(s) URL rather than inline."""

    allow_urls: bool = False
    """Fetch them (off: a 400 asks for a data: URL). On lets clients make the server fetch
    any URL it can reach."""
    url_timeout: float = attrs.field(default=10.0, validator=_positive)
    """Seconds one image may take to fetch."""


def _redis_url(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    if value and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(
            f"{attribute.name}: expected redis://host:port/db (or rediss://, unix://), "
            f"got {value!r}"
        )


@attrs.frozen
class StorageConfig:
    """Durable state: conversations and stored responses, in one SQLite file."""

    path: str = ""
    """The SQLite file; empty: ``cliwrap.sqlite3`` in the state directory."""
    conversation_ttl: float = attrs.field(default=7 * 24 * 3600.0, validator=v.ge(0))
    """Seconds a conversation is kept after its last use."""
    response_ttl: float = attrs.field(default=30 * 24 * 3600.0, validator=v.ge(0))
    """Seconds a stored response (for ``previous_response_id``) is kept after it was made."""
    cleanup_delay: float = attrs.field(default=12 * 3600.0, validator=v.ge(0))
    """Seconds the CLI session files cliwrap caused are kept after their conversation ends or
    expires, so that usage tools that read them still can."""
    redis_url: str = attrs.field(default="", validator=_redis_url)
    """``redis://host:port/db``: share rate limits, keys, budgets and usage with the other
    cliwrap instances using the same Redis (README, "Several instances"); empty: this
    instance's own (memory and the SQLite file)."""


def _rate_groups(_: Any, attribute: attrs.Attribute[Any], value: Mapping[str, int]) -> None:
    from .access.groups import GROUPS  # (here: access imports the config)

    for group, count in value.items():
        if group not in GROUPS:
            raise ValueError(
                f"{attribute.name}.{group}: unknown group (known: {', '.join(GROUPS)})"
            )
        if count < 0:
            raise ValueError(f"{attribute.name}.{group}: expected 0 (no limit) or more")


@attrs.frozen
class RateLimitsConfig:
    """Requests per minute by endpoint group (README, "Rate limits"); 0: no limit."""

    enabled: bool = True
    per_address: Mapping[str, int] = attrs.field(factory=dict, validator=_rate_groups)
    """Per client address, over the defaults (``chat = 600``, ``sessions = 240``, ...)."""
    per_key: Mapping[str, int] = attrs.field(factory=dict, validator=_rate_groups)
    """Per API key, for keys without a limit of their own for the group; empty: none."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses of proxies (nginx in front) whose ``X-Forwarded-For`` names the client;
    empty: every client is limited by the address it connects from."""


@attrs.frozen
class SessionsConfig:
    """Conversations kept in live CLI processes across requests (docs/discussion.md)."""

    enabled: bool = True
    """Continue conversations in the CLI's own session (off: every request is a fresh run
    with the history as one transcript, as before)."""
    concurrent: str = attrs.field(default="latest_wins", validator=v.in_(("latest_wins", "queue")))
    """A second request for a conversation whose turn is running: ``latest_wins`` cancels
    the running turn, ``queue`` waits for it."""
    idle_timeout: float = attrs.field(default=600.0, validator=_positive)
    """How long a conversation's CLI process is kept without a turn; its next turn after
    that starts a new process, seeded with the history."""
    max_processes: int = attrs.field(default=8, validator=v.ge(1))
    """Live CLI processes kept at most (the longest idle end first); turns running count."""
    memory_budget_mb: int = attrs.field(default=2048, validator=v.ge(0))
    """Resident memory the live processes may use together (0: no budget); over it, the
    longest idle ones end."""
    interrupt_grace: float = attrs.field(default=5.0, validator=v.ge(0))
    """After a turn is given up (disconnect, cancel), how long the CLI's own interrupt may
    take before its process is ended."""


@attrs.frozen
class WarmupConfig:
    """CLI processes started before they are asked for (the predecessor's strategies)."""

    strategy: str = attrs.field(
        default="adaptive", validator=v.in_(("none", "periodic", "persistent", "adaptive"))
    )
    """``none``; ``periodic`` (start each CLI briefly every ``refresh_interval`` so its files
    stay in the page cache: no process kept); ``persistent`` (keep ``size`` ready processes
    for each recent conversation shape); ``adaptive`` (periodic, persistent while the
    request rate is at least ``persistent_threshold`` per minute)."""
    size: int = attrs.field(default=1, validator=v.and_(v.ge(1), v.le(8)))
    """Ready processes per shape."""
    refresh_interval: float = attrs.field(default=30.0, validator=_positive)
    persistent_threshold: float = attrs.field(default=10.0, validator=v.ge(0))
    """Requests per minute at which ``adaptive`` keeps processes ready."""
    idle_timeout: float = attrs.field(default=300.0, validator=_positive)
    """A ready process, or a shape, unused this long is let go."""
    max_shapes: int = attrs.field(default=4, validator=v.ge(1))
    """Conversation shapes (model, system prompt, tools) kept warm at most."""


@attrs.frozen
class ModelLimits:
    """A model's token limits as ``[providers.<name>.limits]`` sets them; 0: not set here."""

    context_window: int = attrs.field(default=0, validator=v.ge(0))
    max_output_tokens: int = attrs.field(default=0, validator=v.ge(0))


@attrs.frozen
class ProviderConfig:
    """One CLI. Every key defaults to the provider's own choice (see the provider module)."""

    enabled: bool = True
    command: str = ""
    """Executable name or path; a bare name is looked up in the project's CLI folder, then PATH."""
    args: tuple[str, ...] = ()
    """Extra arguments appended to every invocation."""
    env: Mapping[str, str] = attrs.field(factory=dict)
    """Extra environment for the CLI, over what passes through from the server's own."""
    models: tuple[str, ...] = ()
    default_model: str = ""
    model_map: Mapping[str, str] = attrs.field(factory=dict)
    """Aliases clients may send, mapped to this provider's model names (e.g. gpt-4o = "sonnet").
    They win over the built-in aliases (gpt-4 → opus …) of every provider."""
    limits: Mapping[str, ModelLimits] = attrs.field(factory=dict)
    """Context window and output limit by model name (as the CLI takes it) or glob, over the
    CLI's own catalog and cliwrap's table."""
    home: str = attrs.field(default="user", validator=v.in_(("user", "private")))
    """The CLI's HOME: "user" (yours: its logins, its settings) or "private" (a fresh one per
    run, inside the run's temporary directory, with only the settings cliwrap writes)."""
    plan_only: bool = False
    """Refuse rather than spill into paid usage where the CLI can tell the two apart
    (Claude Code: its API-key variables are withheld, so only a subscription login is used;
    see the README's "CLI logins and quotas")."""
    fallback_model: ModelChain = attrs.field(factory=lambda: ModelChain(()))
    """Models tried, in order, when this provider's model is overloaded, out of quota or
    not found and nothing reached the client yet: ``"haiku"`` (this provider's) or
    ``"gemini/gemini-2.5-flash"`` (another's); a string or a list of them."""


@attrs.frozen
class HealthConfig:
    """The CLIs' logins, watched (see cliwrap.health)."""

    login_interval: float = attrs.field(default=300.0, validator=v.ge(0))
    """Seconds between background login probes of every enabled CLI (0: none; a run that
    finds a CLI logged out still marks it, for a minute)."""


@attrs.frozen
class BudgetsConfig:
    """A cap on what one request may spend (0: none); a request may lower it
    (``X-Max-Budget-Usd`` / ``X-Max-Budget-Tokens``), never raise it."""

    max_request_usd: float = attrs.field(default=0.0, validator=v.ge(0))
    max_request_tokens: int = attrs.field(default=0, validator=v.ge(0))


@attrs.frozen
class Config:
    server: ServerConfig = ServerConfig()
    limits: Limits = Limits()
    deadlines: Deadlines = Deadlines()
    xml_tools: XmlToolsConfig = XmlToolsConfig()
    images: ImagesConfig = ImagesConfig()
    storage: StorageConfig = StorageConfig()
    rate_limits: RateLimitsConfig = RateLimitsConfig()
    sessions: SessionsConfig = SessionsConfig()
    warmup: WarmupConfig = WarmupConfig()
    health: HealthConfig = HealthConfig()
    budgets: BudgetsConfig = BudgetsConfig()
    providers: Mapping[str, ProviderConfig] = attrs.field(factory=dict)

    @property
    def state_path(self) -> Path:
        if self.server.state_dir:
            return Path(self.server.state_dir).expanduser()
        base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
        return Path(base) / "cliwrap"

    @property
    def storage_path(self) -> Path:
        """The conversation store's file: ``[storage] path``, else in :attr:`state_path`."""
        if self.storage.path:
            return Path(self.storage.path).expanduser()
        return self.state_path / "cliwrap.sqlite3"


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why."""


ENV_OVERRIDES: Mapping[str, tuple[str, str]] = {
    "CLIWRAP_HOST": ("server", "host"),
    "CLIWRAP_PORT": ("server", "port"),
    "CLIWRAP_API_KEYS": ("server", "api_keys"),
    "CLIWRAP_ALLOW_OPEN_REMOTE": ("server", "allow_open_remote"),
    "CLIWRAP_STATE_DIR": ("server", "state_dir"),
    "CLIWRAP_KEEPALIVE_INTERVAL": ("server", "keepalive_interval"),
    "CLIWRAP_LOG_LEVEL": ("server", "log_level"),
    "CLIWRAP_CORS_ORIGINS": ("server", "cors_origins"),
    "CLIWRAP_MAX_CONCURRENT": ("limits", "max_concurrent"),
    "CLIWRAP_MAX_QUEUE": ("limits", "max_queue"),
    "CLIWRAP_TOTAL_TIMEOUT": ("deadlines", "total"),
    "CLIWRAP_REDIS_URL": ("storage", "redis_url"),
    "CLIWRAP_RATE_LIMITS": ("rate_limits", "enabled"),
    "CLIWRAP_LOGIN_INTERVAL": ("health", "login_interval"),
}
"""Environment variables that override single keys (comma-separated for lists)."""


def load_config(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    provider_defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Build the config: defaults, then the file (``path`` or $CLIWRAP_CONFIG), then env.

    ``provider_defaults`` holds each known provider's own defaults; a ``[providers.X]``
    table overrides them key by key, and a provider that is not known is an error.
    """
    environ = os.environ if environ is None else environ
    if path is None and environ.get("CLIWRAP_CONFIG"):
        path = environ["CLIWRAP_CONFIG"]
    source = str(path) if path is not None else "the built-in defaults"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    errors = _apply_env(raw, environ)
    if errors:
        raise ConfigError("\n".join(errors))
    try:
        raw["providers"] = _merge_providers(raw.get("providers", {}), provider_defaults or {})
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    try:
        return _converter.structure(raw, Config)
    except Exception as exc:
        lines = cattrs.transform_error(exc, path="", format_exception=_describe)
        raise ConfigError("\n".join(f"{source}: {_tidy(line)}" for line in lines)) from None


def _merge_providers(
    given: object, defaults: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    if not isinstance(given, dict):
        raise ValueError("providers: expected a table of provider tables")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"providers.{unknown[0]}: unknown provider (known: {', '.join(sorted(defaults))})"
        )
    merged: dict[str, dict[str, Any]] = {}
    for name, base in defaults.items():
        table = given.get(name, {})
        if not isinstance(table, dict):
            raise ValueError(f"providers.{name}: expected a table")
        merged[name] = {**base, **table}
    return merged


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> list[str]:
    errors = []
    for var, (section, key) in ENV_OVERRIDES.items():
        if var not in environ:
            continue
        field_type = attrs.fields_dict(_SECTIONS[section])[key].type
        text = environ[var]
        try:
            value = _parse_env(text, field_type)
        except ValueError:
            errors.append(f"environment variable {var}={text!r}: expected {_type_name(field_type)}")
            continue
        table = raw.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
    return errors


def _parse_env(text: str, field_type: Any) -> Any:
    if field_type is int:
        return int(text)
    if field_type is float:
        return float(text)
    if field_type is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if field_type == tuple[str, ...]:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _type_name(field_type: Any) -> str:
    names = {int: "a whole number", float: "a number", bool: "true or false"}
    return names.get(field_type, "text")


_SECTIONS: Mapping[str, type] = {
    "server": ServerConfig,
    "limits": Limits,
    "deadlines": Deadlines,
    "xml_tools": XmlToolsConfig,
    "images": ImagesConfig,
    "storage": StorageConfig,
    "rate_limits": RateLimitsConfig,
    "sessions": SessionsConfig,
    "warmup": WarmupConfig,
    "health": HealthConfig,
    "budgets": BudgetsConfig,
}


def _strict(kind: type) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if type(value) is kind:
            return value
        if kind is float and type(value) is int:
            return float(value)
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")

    return structure


def _str_tuple(value: Any, _: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _model_chain(value: Any, _: Any) -> ModelChain:
    """A ``fallback_model``: one model name, or a list of them (a chain)."""
    if isinstance(value, str):
        value = [value]
    return ModelChain(_str_tuple(value, None))


def _str_mapping(value: Any, _: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise TypeError(f"expected a table of strings, got {value!r}")
    return dict(value)


def _int_mapping(value: Any, _: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not all(type(item) is int for item in value.values()):
        raise TypeError(f"expected a table of whole numbers, got {value!r}")
    return dict(value)


def _describe(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown key {', '.join(repr(k) for k in sorted(exc.extra_fields))}"
    if isinstance(exc, KeyError):
        return "required key missing"
    return str(exc) or type(exc).__name__


def _tidy(line: str) -> str:
    message, _, where = line.rpartition(" @ ")
    where = re.sub(r"\['([^']*)'\]", r".\1", where).lstrip(".") or "(top level)"
    return f"{where}: {message}"


for _cls in (
    ServerConfig,
    Limits,
    Deadlines,
    StorageConfig,
    RateLimitsConfig,
    SessionsConfig,
    WarmupConfig,
    HealthConfig,
    BudgetsConfig,
    ModelLimits,
    ProviderConfig,
    Config,
):
    attrs.resolve_types(_cls)
_converter = cattrs.Converter(forbid_extra_keys=True)
for _kind in (int, float, str, bool):
    _converter.register_structure_hook(_kind, _strict(_kind))
_converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _str_tuple)
_converter.register_structure_hook_func(lambda t: t == Mapping[str, str], _str_mapping)
_converter.register_structure_hook_func(lambda t: t == Mapping[str, int], _int_mapping)
_converter.register_structure_hook(ModelChain, _model_chain)
