"""Who may use the server, and how much: API keys, their usage and budgets, rate limits.

:mod:`.keys` (the keys as values and their store's protocol), :mod:`.budgets` (a key's
budget, sans-IO) and :mod:`.usage` (usage rows, their store's protocol, the run observer
that records them) hold no I/O of their own but the observer's queue; :mod:`.keyring` tells
which key a request presented, from memory; :mod:`.groups` names the endpoint groups and
:mod:`.limiter` counts their requests (GCRA, sans-IO, over a counter store) and a key's
concurrent runs; :mod:`.sqlite` adapts the SQLite store to the protocols, :mod:`.redis_store`
and :mod:`.redis_keys` put the counters, keys and usage in a Redis that several instances
share; :mod:`.commands` is ``cliwrap keys`` and the first start's offer of a key.
"""

from .budgets import budget_error, period_of
from .keyring import Keyring
from .keys import ApiKey, KeyExistsError, KeyLimits, KeyStore, new_key, sees_everyone
from .usage import UsageRecorder, UsageRow, UsageStore, counters, day_of, usage_body

__all__ = [
    "ApiKey",
    "KeyExistsError",
    "KeyLimits",
    "KeyStore",
    "Keyring",
    "UsageRecorder",
    "UsageRow",
    "UsageStore",
    "budget_error",
    "counters",
    "day_of",
    "new_key",
    "period_of",
    "sees_everyone",
    "usage_body",
]
