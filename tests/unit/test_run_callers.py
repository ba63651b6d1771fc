"""Who a presented key is, for the runs registry, before named keys exist: a configured key is
``config-N`` and an admin, as is anyone on a server without keys; nothing else is an admin."""

from __future__ import annotations

from cliwrap.conversations import key_id
from cliwrap.runtime.runs import Caller
from cliwrap.server.service import config_caller


def test_a_configured_key_is_named_by_its_place_and_is_an_admin() -> None:
    assert config_caller(["a", "b"], "b") == Caller(key_id("b"), "config-2", admin=True)


def test_without_keys_everyone_is_an_admin_known_by_the_key_it_presents() -> None:
    assert config_caller([], None) == Caller("", "", admin=True)
    assert config_caller([], "mine") == Caller(key_id("mine"), "", admin=True)


def test_an_unknown_key_is_nobody_s_admin() -> None:
    caller = config_caller(["a"], "other")
    assert not caller.admin
    assert not caller.may_see(key_id("a"))
    assert caller.may_see(key_id("other"))
