# cliwrap tasks. Get `just` with `pip install rust-just` (or `pipx install rust-just`).

set shell := ["bash", "-euo", "pipefail", "-c"]
# Arguments reach the commands as "$@", quoted as given: `just test -m "not real_cli"` works.
set positional-arguments

venv := ".venv"
python := venv / "bin/python"

# Serve the API on http://127.0.0.1:8000 (built-in defaults; pass e.g. `--config config.toml`)
serve *args: setup clis
    {{python}} -m cliwrap serve "$@"

# Run the whole test suite (unit tests, the real pinned CLIs against stub backends, the clients)
test *args: setup clis clients
    {{python}} -m pytest "$@"

# ruff (lint and format check) and mypy
lint: setup
    {{venv}}/bin/ruff check src tests bench
    {{venv}}/bin/ruff format --check src tests bench
    {{venv}}/bin/mypy

# Format the code in place
fmt: setup
    {{venv}}/bin/ruff check --fix src tests bench
    {{venv}}/bin/ruff format src tests bench

# Install the pinned CLIs from clis/package-lock.json into clis/node_modules
clis:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp=clis/node_modules/.cliwrap-installed
    if [ ! -f "$stamp" ] || [ clis/package-lock.json -nt "$stamp" ]; then
        npm ci --prefix clis --no-audit --no-fund --loglevel=error
        touch "$stamp"
    fi

# Install the clients whose README recipes tests/clients runs: the Node ones from
# clients/package-lock.json, aider into .venv-aider (its exact pins stay out of .venv)
clients: setup
    #!/usr/bin/env bash
    set -euo pipefail
    stamp=clients/node_modules/.cliwrap-installed
    if [ ! -f "$stamp" ] || [ clients/package-lock.json -nt "$stamp" ]; then
        npm ci --prefix clients --no-audit --no-fund --loglevel=error
        touch "$stamp"
    fi
    stamp=.venv-aider/.cliwrap-installed
    if [ ! -f "$stamp" ] || [ clients/aider-requirements.txt -nt "$stamp" ]; then
        {{python}} -m venv .venv-aider
        .venv-aider/bin/python -m pip install --quiet -r clients/aider-requirements.txt
        touch "$stamp"
    fi

# Time to first token, total time and disconnect-to-reaped latency; writes docs/benchmarks.md
bench *args: setup clis
    {{python}} -m bench "$@"

# Create the virtualenv and install cliwrap with its test and dev tools (once per pyproject change)
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    stamp={{venv}}/.cliwrap-installed
    if [ ! -x {{python}} ]; then python3 -m venv {{venv}}; fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        {{python}} -m pip install --quiet --upgrade pip
        {{python}} -m pip install --quiet -e '.[dev]'
        touch "$stamp"
    fi
