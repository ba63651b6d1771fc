"""The CLIs' health as a gateway sees it: logins, quotas, fallbacks, per-request budgets.

- :mod:`.login`: the board of login verdicts (probes and runs feed it; a logged-out CLI
  is refused with 401 at once) and the run filter that feeds it;
- :mod:`.checks`: what each CLI says about its credentials, read without a model call;
- :mod:`.probes`: the probes that ask them (the only I/O here);
- :mod:`.quota`: used-up plans read from the CLIs' messages, with their reset times;
- :mod:`.plans`: ``plan_only``, never paid usage where a CLI can tell;
- :mod:`.fallback`: which model to try next;
- :mod:`.budget`: the per-request spending cap.
"""

from .fallback import HEADER as FALLBACK_HEADER
from .fallback import chain, falls_back
from .login import LoginBoard, LoginState, RunWatch
from .quota import QuotaFilter, quota_error

__all__ = [
    "FALLBACK_HEADER",
    "LoginBoard",
    "LoginState",
    "QuotaFilter",
    "RunWatch",
    "chain",
    "falls_back",
    "quota_error",
]
