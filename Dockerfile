# syntax=docker/dockerfile:1
# cliwrap and the pinned CLIs (clis/package-lock.json, installed with `npm ci`), served by a
# non-root user. `docker compose up -d` runs it (compose.yaml; README: "Docker").
# CI lints this file (hadolint, tests/integration/test_packaging.py) but builds no image: the
# CI machine runs no container engine.

# Node 22 is the oldest the pinned CLIs accept (their "engines"); Debian 12's python3 is 3.11.
FROM node:22-bookworm-slim AS base
# tini reaps what the CLIs leave to PID 1 and passes SIGTERM on, so cliwrap's graceful
# shutdown (server.shutdown_grace) ends every CLI's process group before the container stops.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates tini \
    && rm -rf /var/lib/apt/lists/*

FROM base AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# The CLIs first: their layer stays cached while cliwrap's code changes.
COPY clis/package.json clis/package-lock.json clis/
RUN npm ci --prefix clis --no-audit --no-fund \
    && npm cache clean --force
COPY pyproject.toml README.md ./
COPY src/ src/
RUN python3 -m venv /opt/cliwrap/venv \
    && /opt/cliwrap/venv/bin/pip install --no-cache-dir .

FROM base
# The node image's user (uid 1000, most hosts' first user, so bind-mounted logins keep their
# owner), renamed; the folders the volumes mount exist and are its own before VOLUME.
RUN usermod --login cliwrap --home /home/cliwrap --move-home node \
    && groupmod --new-name cliwrap node \
    && mkdir -p /home/cliwrap/.claude /home/cliwrap/.codex /home/cliwrap/.gemini \
        /home/cliwrap/.qwen /home/cliwrap/.local/state/cliwrap \
    && chown -R cliwrap:cliwrap /home/cliwrap
COPY --from=build /opt/cliwrap/venv /opt/cliwrap/venv
COPY --from=build /build/clis/node_modules /opt/cliwrap/clis/node_modules
# CLIWRAP_CLIS_DIR: where cliwrap looks for the pinned CLIs first (an installed cliwrap has no
# checkout beside it). Their .bin is on PATH too, for `docker compose run cliwrap claude`.
ENV PATH=/opt/cliwrap/venv/bin:/opt/cliwrap/clis/node_modules/.bin:$PATH \
    CLIWRAP_CLIS_DIR=/opt/cliwrap/clis \
    CLIWRAP_STATE_DIR=/home/cliwrap/.local/state/cliwrap \
    PYTHONUNBUFFERED=1
# cliwrap, by number: a runtime can tell it is not root (Kubernetes' runAsNonRoot).
USER 1000:1000
WORKDIR /home/cliwrap
# The CLIs' logins (`claude` /login, `codex login`, ...) and cliwrap's state (the ledger of
# running CLIs, the conversation store, keys and usage) outlive the container.
VOLUME ["/home/cliwrap/.claude", "/home/cliwrap/.codex", "/home/cliwrap/.gemini", \
        "/home/cliwrap/.qwen", "/home/cliwrap/.local/state/cliwrap"]
EXPOSE 8000
# /health answers without a key; any answer but a 2xx (or none) makes urlopen raise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--"]
# Listening beyond loopback needs API keys (CLIWRAP_API_KEYS; compose.yaml asks for them):
# cliwrap refuses to start open on 0.0.0.0 unless server.allow_open_remote = true.
CMD ["cliwrap", "serve", "--host", "0.0.0.0"]
