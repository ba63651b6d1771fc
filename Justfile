# cliwrap tasks. Get `just` with `pipx install rust-just`, `apt install just` (Debian 13,
# Ubuntu 24.04) or `brew install just` (README: Quick start).

set shell := ["bash", "-euo", "pipefail", "-c"]
# Arguments reach the commands as "$@", quoted as given: `just test -m "not real_cli"` works.
set positional-arguments

venv := ".venv"
python := venv / "bin/python"

# Every recipe that installs holds this lock (a file beside the venv), so `just serve` and
# `just test` started at once take turns instead of writing one venv or node_modules together.
# flock(1) where there is one (util-linux), else the same flock(2) through python3 (macOS).
install_lock := '''
exec 9>>.install.lock
take() { if command -v flock >/dev/null; then flock "$@" 9; else python3 -c 'import fcntl, sys; fcntl.flock(9, fcntl.LOCK_EX | (fcntl.LOCK_NB if sys.argv[1:] else 0))' "$@"; fi; }
take -n 2>/dev/null || { echo "cliwrap: another just recipe is installing; waiting for it to finish" >&2; take; }
'''

# Serve the API on http://127.0.0.1:8000 (built-in defaults; pass e.g. `--config config.toml`)
serve *args: setup clis
    {{python}} -m cliwrap serve "$@"

# The whole suite: unit, the pinned CLIs vs stub backends, the clients, the system tests (~15 min)
test *args: setup clis clients system
    {{python}} -m pytest "$@"

# The tests that need neither Node nor the system packages: under a minute
test-fast *args: setup
    {{python}} -m pytest -m "not real_cli and not system" "$@"

# Is each CLI there, which version, which credentials; and is Node new enough for them
doctor *args: setup clis
    {{python}} -m cliwrap.node_engines clis/package-lock.json
    {{venv}}/bin/cliwrap doctor "$@"

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
clis: setup
    #!/usr/bin/env bash
    set -euo pipefail
    {{install_lock}}
    stamp=clis/node_modules/.cliwrap-installed
    if [ ! -f "$stamp" ] || [ clis/package-lock.json -nt "$stamp" ]; then
        # Says which Node the CLIs need (and stops if there is none) before npm's EBADENGINE lines
        {{python}} -m cliwrap.node_engines clis/package-lock.json
        command -v npm >/dev/null || { echo "cliwrap: npm not found: install it with Node.js" >&2; exit 1; }
        echo "cliwrap: installing the pinned CLIs (Claude Code, Gemini CLI, Qwen Code, Codex CLI)" \
            "into clis/node_modules with npm ci: 30 s to 2 min the first time" >&2
        npm ci --prefix clis --no-audit --no-fund
        touch "$stamp"
    fi

# The clients tests/clients runs: clients/package-lock.json's, aider into .venv-aider (own pins)
clients: setup
    #!/usr/bin/env bash
    set -euo pipefail
    {{install_lock}}
    stamp=clients/node_modules/.cliwrap-installed
    if [ ! -f "$stamp" ] || [ clients/package-lock.json -nt "$stamp" ]; then
        {{python}} -m cliwrap.node_engines clients/package-lock.json
        echo "cliwrap: installing the Node clients the tests run (OpenCode, Continue's cn)" \
            "into clients/node_modules with npm ci: about a minute the first time" >&2
        npm ci --prefix clients --no-audit --no-fund
        touch "$stamp"
    fi
    stamp=.venv-aider/.cliwrap-installed
    if [ ! -f "$stamp" ] || [ clients/aider-requirements.txt -nt "$stamp" ]; then
        echo "cliwrap: installing aider into .venv-aider for the client tests: 1 to 2 min the first time" >&2
        {{python}} -m venv .venv-aider
        .venv-aider/bin/python -m pip install --quiet -r clients/aider-requirements.txt
        touch "$stamp"
    fi

# The Debian packages the system tests (tests/system) drive, installed with apt-get when missing
system:
    #!/usr/bin/env bash
    set -euo pipefail
    missing=()
    for pair in chromium:chromium redis-server:redis-server nginx:nginx; do
        command=${pair%%:*} package=${pair#*:}
        command -v "$command" >/dev/null || [ -x "/usr/sbin/$command" ] || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && exit 0
    why="the system tests (tests/system) need ${missing[*]}"
    if ! command -v apt-get >/dev/null; then
        echo "cliwrap: $why: install them with your package manager, or run \`just test-fast\`" >&2
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then as_root=(env); elif command -v sudo >/dev/null; then as_root=(sudo env); else
        echo "cliwrap: $why: as root, run apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "cliwrap: $why: installing them with apt-get" >&2
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"

# Time to first token, total time and disconnect-to-reaped latency; writes docs/benchmarks.md
bench *args: setup clis
    {{python}} -m bench "$@"

# Create the virtualenv and install cliwrap with its test and dev tools (once per pyproject change)
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    {{install_lock}}
    stamp={{venv}}/.cliwrap-installed
    if [ -f "$stamp" ] && [ ! pyproject.toml -nt "$stamp" ] && [ -x {{python}} ]; then exit 0; fi
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
        echo "cliwrap: needs Python 3.10 or newer; python3 is $(python3 --version 2>&1)" >&2; exit 1; }
    if [ ! -x {{python}} ]; then
        echo "cliwrap: creating {{venv}} with $(python3 --version)" >&2
        python3 -m venv {{venv}} || {
            rm -rf {{venv}}
            echo "cliwrap: python3 cannot create a virtualenv: on Debian/Ubuntu," \
                "install python3-venv (sudo apt-get install python3-venv)" >&2
            exit 1
        }
    fi
    echo "cliwrap: installing cliwrap with its test and dev tools into {{venv}}" \
        "(about 150 packages: 30 s to 2 min the first time)" >&2
    {{python}} -m pip install --quiet --upgrade pip
    {{python}} -m pip install --progress-bar on -e '.[dev]'
    touch "$stamp"
