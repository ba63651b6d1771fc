"""Who a presented key is, for the runs registry: the key the keyring let the request in as
(an admin key sees every run), or anyone on a server without keys; nobody else is an admin."""

from __future__ import annotations

import trio

from cliwrap.access.keyring import Keyring
from cliwrap.conversations import key_id
from cliwrap.runtime.runs import Caller
from cliwrap.server.service import key_caller


def _identified(keys: Keyring, presented: str | None) -> Caller:
    async def let_in() -> None:
        await keys.error(presented)

    trio.run(let_in)
    return key_caller(keys, presented)


def test_a_configured_key_is_named_by_its_place_and_is_an_admin() -> None:
    assert _identified(Keyring(("a", "b")), "b") == Caller(key_id("b"), "config-2", admin=True)


def test_without_keys_everyone_is_an_admin_known_by_the_key_it_presents() -> None:
    assert _identified(Keyring(), None) == Caller("", "", admin=True)
    assert _identified(Keyring(), "mine") == Caller(key_id("mine"), "", admin=True)


def test_an_unknown_key_is_nobody_s_admin() -> None:
    caller = _identified(Keyring(("a",)), "other")
    assert not caller.admin
    assert not caller.may_see(key_id("a"))
    assert caller.may_see(key_id("other"))
