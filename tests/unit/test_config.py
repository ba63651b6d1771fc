"""Config loading: defaults, the file, environment overrides, and errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest

from cliwrap.config import ConfigError, load_config
from cliwrap.providers import PROVIDERS

DEFAULTS = {name: p.defaults for name, p in PROVIDERS.items()}


def load(tmp_path: Path, text: str | None, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    path = None
    if text is not None:
        path = tmp_path / "cliwrap.toml"
        path.write_text(text)
    return load_config(path, environ=environ or {}, provider_defaults=DEFAULTS)


def test_no_file_gives_the_embedded_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, None)
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8000)
    assert config.server.api_keys == ()
    assert config.providers["claude"].command == "claude"
    assert config.providers["claude"].default_model == "sonnet"


def test_file_overrides_provider_keys_one_by_one(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
[limits]
max_concurrent = 2
[providers.claude]
args = ["--effort", "low"]
model_map = { "gpt-4o" = "sonnet" }
""",
    )
    claude = config.providers["claude"]
    assert config.limits.max_concurrent == 2
    assert claude.args == ("--effort", "low")
    assert claude.model_map == {"gpt-4o": "sonnet"}
    assert claude.models == ("opus", "sonnet", "haiku")  # untouched default


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        "[server]\nport = 9000\n",
        {"CLIWRAP_PORT": "9100", "CLIWRAP_API_KEYS": "k1, k2", "CLIWRAP_MAX_QUEUE": "3"},
    )
    assert config.server.port == 9100
    assert config.server.api_keys == ("k1", "k2")
    assert config.limits.max_queue == 3


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text("[server]\nport = 8123\n")
    config = load_config(environ={"CLIWRAP_CONFIG": str(path)}, provider_defaults=DEFAULTS)
    assert config.server.port == 8123


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nprot = 1\n", "server: unknown key 'prot'"),
        ("[sever]\n", "(top level): unknown key 'sever'"),
        ('[server]\nport = "80"\n', "server.port: expected int, got str '80'"),
        ("[server]\nport = 70000\n", "'port' must be <= 65535"),
        ("[limits]\nmax_concurrent = 0\n", "'max_concurrent' must be >= 1"),
        ('[server]\napi_keys = "k"\n', "server.api_keys: expected a list of strings"),
        ("[server]\nkeepalive_interval = true\n", "expected float, got bool"),
        ("[providers.cursor]\n", "providers.cursor: unknown provider"),
        ("[providers.claude]\nmodel_map = { a = 1 }\n", "providers.claude.model_map"),
        ("[server\n", "not valid TOML"),
        ("[storage]\nconversation_ttl = -1\n", "'conversation_ttl' must be >= 0"),
        ("[storage]\nresponse_ttl = nan\n", "'response_ttl' must be >= 0"),
        ("[storage]\ncleanup_delay = -0.5\n", "'cleanup_delay' must be >= 0"),
        ("[storage]\npath = 1\n", "storage.path: expected str"),
        ("[storage]\nttl = 1\n", "storage: unknown key 'ttl'"),
    ],
)
def test_bad_values_name_the_file_and_the_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    assert str(tmp_path / "cliwrap.toml") in str(caught.value)
    assert expected in str(caught.value)


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CLIWRAP_PORT='eighty': expected a whole number"):
        load(tmp_path, None, {"CLIWRAP_PORT": "eighty"})


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", environ={}, provider_defaults=DEFAULTS)


def test_example_config_is_valid_and_matches_the_defaults() -> None:
    example = Path(__file__).parents[2] / "config.toml.example"
    assert load_config(example, environ={}, provider_defaults=DEFAULTS) == load_config(
        None, environ={}, provider_defaults=DEFAULTS
    )


def test_the_store_lives_in_the_state_directory_unless_given_a_path(tmp_path: Path) -> None:
    config = load(tmp_path, f'[server]\nstate_dir = "{tmp_path}/state"\n')
    assert config.storage_path == tmp_path / "state" / "cliwrap.sqlite3"
    assert (config.storage.conversation_ttl, config.storage.response_ttl) == (604800.0, 2592000.0)
    assert config.storage.cleanup_delay == 12 * 3600.0

    config = load(
        tmp_path,
        '[storage]\npath = "~/conversations.sqlite3"\nconversation_ttl = inf\ncleanup_delay = 0\n',
    )
    assert config.storage_path == Path.home() / "conversations.sqlite3"
    assert config.storage.conversation_ttl == float("inf")
    assert config.storage.cleanup_delay == 0.0
