"""Whether each CLI is logged in: one board of verdicts, fed by probes and by runs.

A verdict comes from a login probe (:mod:`cliwrap.health.checks` reads what the CLI says
about its credentials) or from a run: a run the CLI's backend refused for want of a login
marks it suspect, a run that answered marks it logged in. While a CLI's last *probed*
verdict is "logged out" and still fresh, a request for it is answered 401
``cli_not_logged_in`` at once, before any process starts; an old verdict is not trusted (the
operator may have logged in since), so the next request tries the CLI again. A run's 401
alone refuses nothing: it may be one request the backend refused (a revoked key of a
client's own provider, a test's stub), so it asks for a probe (``on_suspect``), whose
verdict decides. Sans-IO: the clock is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from ..core.errors import ApiError, ErrorKind
from ..core.events import Event, Failed, Finished

__all__ = ["LoginBoard", "LoginState", "RunWatch"]

DEFAULT_TRUST = 60.0
"""How long a "logged out" verdict refuses requests when no periodic probe renews it."""


@attrs.frozen
class LoginState:
    """One CLI's login as last seen (never a secret: names of methods and files only)."""

    method: str | None = None
    """How the CLI authenticates: ``claude.ai``, ``api_key``, ``chatgpt``, ``env:NAME``…"""
    healthy: bool | None = None
    """True: logged in; False: no usable credentials; None: not known (not probed yet, or
    the CLI could not tell without a model call)."""
    checked_at: float | None = None
    """Wall-clock time of the verdict (``time.time()``)."""
    hint: str = ""
    """What to do on the server when it is not healthy."""
    detail: str = ""
    """What the verdict is based on, for people."""
    from_run: bool = False
    """The verdict of a run, not of a probe: shown, but it refuses no request."""

    def as_json(self) -> dict[str, Any]:
        checked = (
            None
            if self.checked_at is None
            else datetime.fromtimestamp(self.checked_at, timezone.utc).isoformat()
        )
        return {
            "method": self.method,
            "healthy": self.healthy,
            "checked_at": checked,
            "hint": self.hint,
            "detail": self.detail,
        }


class LoginBoard:
    """The login verdict of every enabled CLI, and the refusal a logged-out one means."""

    def __init__(
        self,
        hints: Mapping[str, str],
        *,
        trust: float = DEFAULT_TRUST,
        clock: Callable[[], float] = time.time,
        on_suspect: Callable[[str], None] = lambda name: None,
    ) -> None:
        """``hints``: each CLI's login hint (what to run on the server); ``trust``: how long
        a "logged out" verdict refuses requests (the probe interval, when there is one);
        ``on_suspect``: told of a CLI a run found logged out (probe it now)."""
        self.on_suspect = on_suspect
        self._hints = dict(hints)
        self._trust = trust
        self._clock = clock
        self._states = {name: LoginState(hint=hint) for name, hint in self._hints.items()}

    @property
    def names(self) -> Iterable[str]:
        return self._states.keys()

    def get(self, name: str) -> LoginState:
        return self._states.get(name, LoginState())

    def probed(self, name: str, state: LoginState) -> LoginState:
        """Record a probe's verdict (stamped now; the hint is the provider's if none)."""
        stamped = attrs.evolve(
            state, checked_at=self._clock(), hint=state.hint or self._hints.get(name, "")
        )
        self._states[name] = stamped
        return stamped

    def logged_out(self, name: str, message: str) -> None:
        """A run found the CLI logged out (its backend refused its credentials)."""
        previous = self.get(name)
        self.probed(
            name,
            LoginState(
                method=previous.method,
                healthy=False,
                detail=f"a run failed: {message}",
                from_run=True,
            ),
        )
        self.on_suspect(name)

    def answered(self, name: str) -> None:
        """A run was answered: the CLI is logged in (the method stays what a probe said)."""
        previous = self.get(name)
        if previous.healthy is not True:
            self.probed(
                name, LoginState(method=previous.method, healthy=True, detail="a run answered")
            )
        else:
            self._states[name] = attrs.evolve(previous, checked_at=self._clock())

    def refusal(self, name: str) -> ApiError | None:
        """The 401 for a request to ``name`` while it is known to be logged out, else None."""
        state = self._states.get(name)
        if state is None or state.healthy is not False or state.checked_at is None:
            return None
        if state.from_run:
            return None  # until a probe says so
        if self._clock() - state.checked_at > self._trust:
            return None  # maybe logged in since: let the next run find out
        return ApiError(
            ErrorKind.CLI_LOGGED_OUT,
            f"The {name} CLI on the server is not logged in ({state.detail}): {state.hint}.",
        )


@attrs.define
class RunWatch:
    """A filter on a run's events that tells the board what the run showed about the login."""

    board: LoginBoard
    name: str

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, Failed) and event.error.kind is ErrorKind.CLI_LOGGED_OUT:
            self.board.logged_out(self.name, event.error.message)
        elif isinstance(event, Finished):
            self.board.answered(self.name)
        return [event]
