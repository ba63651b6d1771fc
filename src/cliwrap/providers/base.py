"""What every provider module supplies, and the pieces they share.

A provider is two pure functions and some facts: an invocation builder (request ─► argv,
environment, stdin bytes, files for the private working directory) and a line parser (one
stdout line ─► events). Neither does I/O; the job runs them. A CLI that must be talked to
while it runs (a JSON-RPC server on stdio) gets a :class:`Dialogue` parser, which also says
what to write back, in the sans-IO manner of h11: the parser decides, the job does the I/O.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from ..config import ProviderConfig
from ..core.events import Event
from ..core.request import ChatRequest, Message
from .limits import LimitRule, TokenLimits

__all__ = [
    "PRIVATE_HOME",
    "TAP_FILE",
    "TAP_LINE",
    "WORK_DIR",
    "DecodedLine",
    "Dialogue",
    "Invocation",
    "LineParser",
    "LiveSession",
    "Provider",
    "ProviderDefaults",
    "SessionProvider",
    "SessionStart",
    "TurnParser",
    "auth_from",
    "build_env",
    "bun_preload",
    "find_command",
    "first_version",
    "line_json",
    "node_preload",
    "under_work_dir",
]

PRIVATE_HOME = "home"
"""The private HOME's folder name inside the run's directory."""
WORK_DIR = "work"
"""The CLI's working directory, a folder of the run's directory.

It holds only what the CLI must find there (Gemini CLI's workspace settings, the images a
prompt names with ``@``). cliwrap's own files (taps, system prompt files, the Codex
catalog), the private HOME and ``TMPDIR`` are its siblings: a CLI that shows the model its
working directory (Qwen Code lists it) shows an empty folder, never cliwrap's files.
"""
TAP_FILE = "model-call-tap.cjs"
"""Where a CLI's model-call tap goes in the run's directory (beside :data:`WORK_DIR`): a
script preloaded into the CLI that observes its model calls (status, ``Retry-After``),
which its own output leaves out."""
TAP_LINE = "cliwrap_model_call"
"""The ``type`` of the JSON lines a tap prints among the CLI's own, one per model call."""


@attrs.frozen
class Invocation:
    """Everything needed to start one CLI run, decided before anything starts."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    stdin: bytes
    files: Mapping[str, str | bytes] = attrs.field(factory=dict)
    """Files to write into the run's directory first (path relative to it ─► text, or bytes
    for an image); those the CLI must find in its working directory go under
    :data:`WORK_DIR`."""
    stop_signal: int = signal.SIGTERM
    dialogue: bool = False
    """Keep stdin open after ``stdin`` is written: the parser is a :class:`Dialogue`."""
    provider: str = ""
    """The provider whose CLI this is (set by the service; the metrics count processes by it)."""

    def write_files(self, workdir: Path) -> None:
        """Write :attr:`files` under ``workdir`` (blocking: call it from a thread if it may be)."""
        for relative, content in self.files.items():
            path = workdir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")


def under_work_dir(files: Mapping[str, str | bytes]) -> dict[str, str | bytes]:
    """``files`` named relative to the CLI's working directory, as :attr:`Invocation.files`
    names them (relative to the run's directory)."""
    return {f"{WORK_DIR}/{name}": content for name, content in files.items()}


class DecodedLine(bytes):
    """A stdout line whose JSON value was decoded already, elsewhere: :attr:`value`.

    The job decodes a huge line in another process (:mod:`cliwrap.runtime.offload`), where
    decoding it does not hold the event loop's GIL; the parser then takes the value from
    :func:`line_json` instead of decoding the line again. The bytes are the line itself, so
    a parser that looks at them sees what it would have seen anyway.
    """

    value: Any

    def __new__(cls, line: bytes, value: Any) -> DecodedLine:
        self = super().__new__(cls, line)
        self.value = value
        return self


def line_json(line: bytes) -> Any:
    """The JSON value of a stdout line (:class:`ValueError` if it is not JSON): a
    :class:`DecodedLine`'s value, or the line decoded now."""
    if isinstance(line, DecodedLine):
        return line.value
    return json.loads(line)


class LineParser(Protocol):
    """Turns a CLI's stdout into events, one line at a time (a small state machine)."""

    def feed(self, line: bytes) -> list[Event]: ...

    def finish(self, returncode: int, stderr_tail: str) -> list[Event]:
        """The CLI exited: whatever is still owed (a failure, if it never answered)."""
        ...


@runtime_checkable
class Dialogue(LineParser, Protocol):
    """A parser for a CLI that is talked to while it runs (``Invocation.dialogue``)."""

    def to_send(self) -> bytes | None:
        """What to write to the CLI's stdin now (``b""``: nothing yet); None: close stdin.

        The job calls it after every line it feeds, and writes before reading on.
        """
        ...


class TurnParser(Dialogue, Protocol):
    """A dialogue parser for one turn of a CLI process kept across turns."""

    @property
    def turn_over(self) -> bool:
        """Whether the CLI said its turn is over (only then may it take the next one)."""
        ...


class LiveSession(Protocol):
    """The sans-IO state of one CLI process kept across a conversation's turns.

    What to write for a turn, and how to read it, may depend on what earlier turns learnt
    (Codex's thread id): the session keeps that, each turn's parser reads it.
    """

    def turn(self, request: ChatRequest, new: tuple[Message, ...]) -> tuple[bytes, TurnParser]:
        """What to write to the CLI's stdin for a turn whose new messages are ``new`` (as
        plain turns: tool results already text), and the parser of what it answers.
        ``request`` is the whole request as the CLI gets it (images, limits)."""
        ...

    def interrupt(self) -> bytes:
        """What asks the CLI to stop the turn it is on (its own interrupt), or ``b""``."""
        ...


@attrs.frozen
class SessionStart:
    """How a CLI process that keeps a conversation begins."""

    session_id: str
    """The CLI's own id for the session (a UUID cliwrap chose, where the CLI takes one)."""
    seed: tuple[Message, ...] = ()
    """Earlier turns (plain: user, assistant, system-in-conversation) the session starts
    with, each a turn of its own in the CLI's history."""


@runtime_checkable
class SessionProvider(Protocol):
    """A provider whose CLI can keep a conversation in one process, turn after turn."""

    def session(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
        start: SessionStart,
        listing: str | None = None,
    ) -> tuple[Invocation, LiveSession]:
        """The long-lived process (``Invocation.dialogue``) and its session state.

        ``request``'s system prompt and start-time options (effort, output limit) are fixed
        for the process's life; its messages are not read here.
        """
        ...

    def session_files(
        self, workdir: Path, env: Mapping[str, str], start: SessionStart
    ) -> Path | None:
        """Where the CLI keeps the session's files outside ``workdir`` (in the user's own
        home), for the delayed cleanup; None if they stay in ``workdir``."""
        ...


class Provider(Protocol):
    name: str
    defaults: Mapping[str, Any]
    """This provider's config defaults; ``[providers.<name>]`` overrides them key by key."""
    prefixes: tuple[str, ...]
    """Model-name prefixes routed here (``claude-`` …)."""
    install_hint: str
    login_hint: str
    """What to do on the server when the CLI is not logged in."""
    env_prefixes: tuple[str, ...]
    """The CLI's own environment variables (by prefix) that pass through from the server's."""
    env_defaults: Mapping[str, str]
    """Environment the CLI gets unless the user set it (bounded retries, no telemetry, …)."""
    version_args: tuple[str, ...]
    """Arguments that make the CLI print its version (``--version``)."""
    models_args: tuple[str, ...] | None
    """Arguments that make the CLI print the models it knows, or None if it cannot."""
    limits_output: bool
    """Whether a request's ``max_tokens`` reaches the model (else cliwrap cuts the answer)."""
    aliases: Mapping[str, str]
    """Built-in aliases for this CLI's models: names earlier wrappers taught their users
    (``gpt-4o`` ─► ``sonnet``). Every user's ``model_map`` entry wins over them."""
    vendor_prefix: str | None
    """A prefix earlier wrappers put before this CLI's own model names
    (``qwen-`` in ``qwen-qwen3-coder-plus``): taken off when what follows starts with this
    provider's name."""
    limit_rules: tuple[LimitRule, ...]
    """Context window and output limit by model-name glob, first match wins (providers/limits)."""

    def catalog_limits(self, listing: str) -> Mapping[str, TokenLimits]:
        """The limits the CLI's own catalog gives its models (``listing``: what
        ``models_args`` printed); empty if it has none."""
        ...

    def invocation(
        self,
        request: ChatRequest,
        model: str,
        workdir: Path,
        settings: ProviderConfig,
        environ: Mapping[str, str],
        listing: str | None = None,
    ) -> Invocation:
        """The run, given its private ``workdir``.

        ``listing`` is what ``models_args`` printed when the inventory last asked the CLI
        (None if it was not asked or failed): the installed CLI's own facts about its models.
        """
        ...

    def parser(self, request: ChatRequest, model: str) -> LineParser: ...

    def parse_version(self, output: str) -> str:
        """The version number in what ``version_args`` printed."""
        ...

    def parse_models(self, output: str) -> list[str]:
        """Model ids in what ``models_args`` printed (never called if that is None)."""
        ...

    def auth_hint(self, env: Mapping[str, str], home: Path) -> str:
        """Which credentials the CLI will use, from ``env`` and files under ``home``.

        A hint for people (``cliwrap doctor``): names of variables and files, never a value.
        """
        ...


class ProviderDefaults:
    """What most providers share: ``--version`` prints the version; no model listing."""

    version_args: tuple[str, ...] = ("--version",)
    models_args: tuple[str, ...] | None = None
    limits_output: bool = False
    aliases: Mapping[str, str] = {}
    vendor_prefix: str | None = None
    limit_rules: tuple[LimitRule, ...] = ()

    def parse_version(self, output: str) -> str:
        return first_version(output)

    def parse_models(self, output: str) -> list[str]:
        return []

    def catalog_limits(self, listing: str) -> Mapping[str, TokenLimits]:
        return {}

    def session_files(
        self, workdir: Path, env: Mapping[str, str], start: SessionStart
    ) -> Path | None:
        """None: the CLI keeps a session's files in the run's directory (Qwen Code's
        QWEN_HOME, Gemini CLI's private home) or none at all (Codex's ephemeral threads)."""
        return None


_BASE_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TERM",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
)


def build_env(
    environ: Mapping[str, str],
    *,
    prefixes: Iterable[str],
    defaults: Mapping[str, str],
    extra: Mapping[str, str],
    workdir: Path,
    home: str = "user",
) -> dict[str, str]:
    """The CLI's environment: an allowlist, never cliwrap's own variables or secrets.

    From the server's environment only the basics (``PATH``, ``HOME``, locale, proxies,
    CA bundles) and the provider's own variables (by prefix) pass. ``defaults`` fill what
    the user did not set (e.g. bounded retries); the configured ``extra`` always wins.
    ``TMPDIR`` points into the run's private directory, so the CLI's scratch files go with it.
    With ``home="private"``, so do ``HOME`` and the XDG folders: the CLI neither reads nor
    writes the user's own configuration (the configured ``extra`` may still point elsewhere).
    """
    prefixes = tuple(prefixes)
    env = {
        key: value
        for key, value in environ.items()
        if (key in _BASE_ENV or key.startswith("LC_") or key.startswith(prefixes))
        and not key.startswith("CLIWRAP_")
    }
    if home == "private":
        private = workdir / PRIVATE_HOME
        env["HOME"] = str(private)
        for key in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            env.pop(key, None)
    for key, value in defaults.items():
        env.setdefault(key, value)
    env.update(extra)
    env["TMPDIR"] = str(workdir)
    return env


def node_preload(*preloads: Path, configured: Mapping[str, str]) -> str:
    """``NODE_OPTIONS`` that preload ``preloads`` into a Node CLI in order, then the configured.

    Node reads ``--require`` paths from NODE_OPTIONS with shell-like quoting, so the run's
    paths are quoted; a user's own NODE_OPTIONS (``[providers.<name>.env]``) still applies.
    """
    requires = [
        "--require " + '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'
        for path in preloads
    ]
    return " ".join(filter(None, [*requires, configured.get("NODE_OPTIONS", "")]))


def bun_preload(preload: str, configured: Mapping[str, str]) -> str:
    """``BUN_OPTIONS`` that preload ``preload`` (a file of the run's directory) into a Bun
    CLI running in :data:`WORK_DIR`, then what was configured.

    Bun splits BUN_OPTIONS at whitespace and knows no quoting, so the preload is named
    relative to the CLI's working directory, as the run's directory's own path may hold
    spaces; ``--preload=`` keeps it one option. A user's own BUN_OPTIONS still applies.
    """
    if any(c.isspace() for c in preload):
        raise ValueError(f"BUN_OPTIONS cannot carry a path with whitespace: {preload!r}")
    own = f"--preload=../{preload}"
    return " ".join(filter(None, [own, configured.get("BUN_OPTIONS", "")]))


def first_version(output: str) -> str:
    """The first version number in a CLI's ``--version`` output ("codex-cli 0.169.0" ─► 0.169.0)."""
    match = re.search(r"\d+\.\d+(?:\.\d+)?(?:[-+.][\w.]+)?", output)
    return match.group(0) if match else output.strip()[:40]


def auth_from(
    env: Mapping[str, str],
    home: Path,
    *,
    variables: Iterable[str],
    files: Iterable[str],
    otherwise: str,
) -> str:
    """Name the credentials a CLI will find: set variables first, then files under ``home``."""
    found = [f"${name}" for name in variables if env.get(name)]
    found += [f"~/{name}" for name in files if (home / name).exists()]
    return ", ".join(found) if found else otherwise


def cli_dirs(environ: Mapping[str, str] = os.environ) -> list[Path]:
    """Where `just clis` puts the pinned CLIs, in the order they are searched."""
    dirs = []
    if environ.get("CLIWRAP_CLIS_DIR"):
        dirs.append(Path(environ["CLIWRAP_CLIS_DIR"]))
    # A source checkout (editable install): <repo>/clis next to <repo>/src/cliwrap.
    dirs.append(Path(__file__).resolve().parents[3] / "clis")
    return [d / "node_modules" / ".bin" for d in dirs]


def find_command(command: str, environ: Mapping[str, str] = os.environ) -> Path | None:
    """The executable for ``command``: a path as given, else the project's CLI folder, else PATH."""
    if os.sep in command:
        path = Path(command).expanduser()
        return path if os.access(path, os.X_OK) else None
    for folder in cli_dirs(environ):
        candidate = folder / command
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(command, path=environ.get("PATH"))
    return Path(found) if found else None
