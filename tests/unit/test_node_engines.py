"""The Node version check `just clis` and `just doctor` run (cliwrap.node_engines)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cliwrap.node_engines import Unmet, minimum, satisfies, unmet, version_of

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("version", "wanted", "expected"),
    [
        ("20.20.2", ">=22.0.0", False),
        ("22.0.0", ">=22.0.0", True),
        ("22.1.0", ">=22", True),
        ("20.20.2", ">=20.9.0", True),
        ("20.8.9", ">=20.9.0", False),
        ("20.20.2", "^18.17.0 || ^20.3.0 || >=21.0.0", True),
        ("19.0.0", "^18.17.0 || ^20.3.0 || >=21.0.0", False),
        ("10.20.0", ">= 10.16.0 < 11 || >= 11.8.0 < 12 || >= 12.0.0", True),
        ("11.2.0", ">= 10.16.0 < 11 || >= 11.8.0 < 12 || >= 12.0.0", False),
        ("22.3.0", "^18 || ^20 || >= 21", True),
        ("19.9.9", "^18 || ^20 || >= 21", False),
        ("20.5.0", "20.x", True),
        ("21.0.0", "20.x", False),
        ("18.2.0", "~18.1", False),
        ("18.1.7", "~18.1.2", True),
        ("16.0.0", "*", True),
        ("16.0.0", "", True),
        ("0.3.1", "^0.3.0", True),
        ("0.4.0", "^0.3.0", False),
        ("22.0.0", ">21", True),
        ("21.5.0", ">21", False),
        ("21.5.0", "<=21", True),
    ],
)
def test_ranges_as_npm_reads_them(version: str, wanted: str, expected: bool) -> None:
    parsed = version_of(version)
    assert parsed is not None
    assert satisfies(parsed, wanted) is expected


def test_an_unreadable_range_is_not_guessed_at() -> None:
    assert satisfies((20, 0, 0), "1.2.3 - 2.3.4") is None
    assert satisfies((20, 0, 0), "latest") is None


def test_node_prints_its_version_with_a_v() -> None:
    assert version_of("v20.20.2\n") == (20, 20, 2)
    assert version_of("v23.0.0-nightly2024") == (23, 0, 0)
    assert version_of("node") is None


LOCK = {
    "packages": {
        "": {"dependencies": {"cli-a": "1.0.0", "cli-b": "2.0.0"}},
        "node_modules/cli-a": {"engines": {"node": ">=22.0.0"}},
        "node_modules/cli-b": {"engines": {"node": "^18.17.0 || >=20"}},
        "node_modules/cli-a/node_modules/helper": {"engines": {"node": ">=22.5"}},
        "node_modules/old": {"engines": {"node": ">=8"}},
    }
}


def test_the_packages_an_older_node_does_not_satisfy_are_named() -> None:
    assert unmet((20, 20, 2), LOCK) == [
        Unmet("cli-a", ">=22.0.0"),
        Unmet("helper", ">=22.5"),
    ]
    assert unmet((22, 5, 0), LOCK) == []


def test_the_minimum_is_the_highest_floor_of_the_direct_dependencies() -> None:
    assert minimum(LOCK) == (22, 0, 0)
    assert minimum({"packages": {"": {}}}) is None


def test_the_readme_states_the_node_the_pinned_clis_need() -> None:
    lock = json.loads((ROOT / "clis" / "package-lock.json").read_text())
    needed = minimum(lock)
    assert needed is not None
    assert f"Node.js ≥ {needed[0]}" in (ROOT / "README.md").read_text()
