"""A simulated prompt cache for the stub model backends, so that tests and benchmarks can see
how much of each prompt a real backend would serve from its cache.

Real model APIs keep the prefix of a prompt they have seen, serve a later request that starts
the same way from it (faster, and billed at a fraction) and say so in ``usage``. Whether an
agent's turns keep a stable prefix through cliwrap decides what a real backend bills, so the
stubs simulate the caches as the providers document them: one :class:`PromptCache` per stub
server (see :class:`cliwrap.testing.StubBackends`; tests never see each other's entries), which
each stub asks about every request it answers, and reports in its API's own usage fields.
:meth:`PromptCache.stats` then gives the share of all input served from the cache.

Two rules:

**Breakpoints** (Anthropic Messages, :meth:`PromptCache.breakpoints`). The prompt is read in
the order tools → system → messages, block by block; the blocks carrying ``cache_control``
are breakpoints (at most :data:`MAX_BREAKPOINTS`; the stub refuses more, as the API does). The
prefix ending at each breakpoint is written to the cache when it holds at least
``min_tokens``. A request reads the longest cached prefix that ends at a breakpoint or at one
of the ``lookback`` blocks before it (the API's "20 blocks" lookback). It reports what it read
(``cache_read_input_tokens``), what it wrote beyond that, up to its last cacheable breakpoint
(``cache_creation_input_tokens``), and the rest (``input_tokens``). ``cache_control`` itself is
not content: a breakpoint that moves to the newest message keeps the earlier prefix's key.

**Automatic prefixes** (OpenAI Chat Completions and Responses, Gemini,
:meth:`PromptCache.prefix`). Every prompt of at least ``min_tokens`` is cached; a request reads
the longest prefix it shares with any earlier one, counted in whole blocks of ``granularity``
tokens (OpenAI's documented 128-token increments, after a 1024-token minimum; Gemini documents
no increment, and the stub uses the same). The prompt is matched as text, not part by part, as
the real caches match tokens: a prompt that grows at its end, even inside its last message,
still reads its old start. Chat and Responses count the cached tokens inside the prompt tokens
(``prompt_tokens_details.cached_tokens``, ``input_tokens_details.cached_tokens``), as does
Gemini (``cachedContentTokenCount`` within ``promptTokenCount``).

Entries are scoped as the real caches are: by API and model, and for OpenAI also by the
request's ``prompt_cache_key`` (OpenAI routes a request by it, so two keys seldom share a
cache; here they never do).

**Token estimate.** Tokens are estimated, not counted: each part of a prompt (a tool, a system
block, a message's content block, a chat message, a Responses input item, a Gemini content) is
``ceil(len(json) / 4)`` tokens of its compact JSON (:func:`estimate_tokens`), and the blocks of
the automatic rule are ``4 * granularity`` characters of the parts' JSON, one after another.

**Simplified** (the aim is a faithful prefix rule, not a billing clone): entries never expire
(the real ones live 5 minutes to an hour), a breakpoint's ``ttl`` is ignored, everything
outside the parts (sampling parameters, ``tool_choice``, thinking settings) leaves the key
alone, one ``min_tokens`` serves every model (the APIs ask more of some), and the lookback
counts blocks of the whole prompt, whatever message they are in.

Sans-IO. Thread-safe: a stub server answers on its own thread while a test reads the stats.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import operator
import threading
from collections.abc import Iterable

import attrs

__all__ = [
    "MAX_BREAKPOINTS",
    "CacheStats",
    "CacheUsage",
    "Prompt",
    "PromptCache",
    "estimate_tokens",
]

MAX_BREAKPOINTS = 4
"""How many blocks with ``cache_control`` one Anthropic request may carry."""
CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """The stubs' token count of ``text``: a quarter of its characters, rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


@attrs.frozen
class Prompt:
    """A request's prompt as a cache sees it: its parts in the order the model reads them, each
    as compact JSON, and which of them carry an Anthropic cache breakpoint."""

    parts: tuple[str, ...]
    breakpoints: tuple[int, ...] = ()
    """Indexes into :attr:`parts`, in order."""

    @classmethod
    def of(cls, values: Iterable[object]) -> Prompt:
        """The prompt of these parts; a part's ``cache_control`` marks a breakpoint and is
        taken out of its content (moving a breakpoint must not change the prefix)."""
        parts: list[str] = []
        breakpoints: list[int] = []
        for index, value in enumerate(values):
            if isinstance(value, dict) and "cache_control" in value:
                if value["cache_control"] is not None:
                    breakpoints.append(index)
                value = {k: v for k, v in value.items() if k != "cache_control"}
            parts.append(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
        return cls(tuple(parts), tuple(breakpoints))

    @property
    def tokens(self) -> int:
        return sum(estimate_tokens(part) for part in self.parts)

    def uncached(self) -> CacheUsage:
        """The usage of this prompt where no cache is simulated."""
        return CacheUsage(self.tokens)


@attrs.frozen
class CacheUsage:
    """How one request's prompt tokens split between the cache and fresh input."""

    prompt_tokens: int
    """All of them (OpenAI's ``prompt_tokens``, Gemini's ``promptTokenCount``)."""
    cached_tokens: int = 0
    """Read from the cache."""
    written_tokens: int = 0
    """Written to the cache (Anthropic's ``cache_creation_input_tokens``; 0 elsewhere)."""

    @property
    def uncached_tokens(self) -> int:
        """Neither read nor written: Anthropic's ``input_tokens``."""
        return self.prompt_tokens - self.cached_tokens - self.written_tokens


@attrs.frozen
class CacheStats:
    """Totals over the requests a cache has seen. Subtract two snapshots for a stretch of a
    run (``after - before``)."""

    requests: int = 0
    input_tokens: int = 0
    """All prompt tokens, cached or not."""
    cached_tokens: int = 0
    written_tokens: int = 0

    @property
    def cached_share(self) -> float:
        """The share of all input that was served from the cache."""
        return self.cached_tokens / self.input_tokens if self.input_tokens else 0.0

    def __add__(self, other: CacheStats) -> CacheStats:
        return CacheStats(*map(operator.add, attrs.astuple(self), attrs.astuple(other)))

    def __sub__(self, other: CacheStats) -> CacheStats:
        return CacheStats(*map(operator.sub, attrs.astuple(self), attrs.astuple(other)))


class PromptCache:
    """One stub server's simulated prompt cache, for all of its APIs.

    ``api`` names the wire format (its entries and stats are kept apart); ``scope`` is what
    else keys an entry: the model, and for OpenAI the ``prompt_cache_key``.
    """

    def __init__(self, *, min_tokens: int = 1024, granularity: int = 128, lookback: int = 20):
        self.min_tokens = min_tokens
        self.granularity = granularity
        self.lookback = lookback
        self._lock = threading.Lock()
        self._entries: set[bytes] = set()
        self._stats: dict[str, CacheStats] = {}

    def breakpoints(self, api: str, scope: Iterable[str], prompt: Prompt) -> CacheUsage:
        """Anthropic's rule: read the longest cached prefix at or shortly before a breakpoint,
        write the prefix at each breakpoint that holds ``min_tokens``."""
        keys = list(_chain(_seed(api, scope), prompt.parts))
        sizes = list(itertools.accumulate(estimate_tokens(part) for part in prompt.parts))
        cacheable = [b for b in prompt.breakpoints if sizes[b] >= self.min_tokens]
        with self._lock:
            read = 0
            for breakpoint in prompt.breakpoints:
                for end in range(breakpoint, max(-1, breakpoint - self.lookback - 1), -1):
                    if keys[end] in self._entries:
                        read = max(read, sizes[end])
                        break
            written = max(0, sizes[cacheable[-1]] - read) if cacheable else 0
            self._entries.update(keys[b] for b in cacheable)
            return self._count(api, CacheUsage(prompt.tokens, read, written))

    def prefix(self, api: str, scope: Iterable[str], prompt: Prompt) -> CacheUsage:
        """The automatic rule: read the longest prefix, in whole blocks of ``granularity``
        tokens, that an earlier prompt had; remember this prompt if it holds ``min_tokens``."""
        text = "".join(prompt.parts)
        size = self.granularity * CHARS_PER_TOKEN
        blocks = [text[start : start + size] for start in range(0, len(text) - size + 1, size)]
        keys = list(_chain(_seed(api, scope), blocks))
        total = prompt.tokens
        with self._lock:
            matched = sum(1 for _ in itertools.takewhile(self._entries.__contains__, keys))
            cached = matched * self.granularity
            if total >= self.min_tokens:
                self._entries.update(keys)
            return self._count(api, CacheUsage(total, cached if cached >= self.min_tokens else 0))

    def stats(self, api: str | None = None) -> CacheStats:
        """The totals so far, of one API or of all."""
        with self._lock:
            if api is not None:
                return self._stats.get(api, CacheStats())
            return sum(self._stats.values(), CacheStats())

    def _count(self, api: str, usage: CacheUsage) -> CacheUsage:
        one = CacheStats(1, usage.prompt_tokens, usage.cached_tokens, usage.written_tokens)
        self._stats[api] = self._stats.get(api, CacheStats()) + one
        return usage


def _seed(api: str, scope: Iterable[str]) -> bytes:
    return hashlib.blake2b(json.dumps([api, *scope]).encode(), digest_size=16).digest()


def _chain(seed: bytes, pieces: Iterable[str]) -> Iterable[bytes]:
    """One key per prefix: the key of everything up to and including each piece."""
    key = seed
    for piece in pieces:
        key = hashlib.blake2b(key + piece.encode(), digest_size=16).digest()
        yield key
