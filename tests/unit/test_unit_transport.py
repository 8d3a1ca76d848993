"""The per-address connection count of packyard.transport.Limits."""

from __future__ import annotations

from packyard.transport import Limits


def test_an_address_is_admitted_up_to_its_share() -> None:
    limits = Limits(per_address=2)
    assert limits.admit("10.0.0.1")
    assert limits.admit("10.0.0.1")
    assert not limits.admit("10.0.0.1")
    assert limits.admit("10.0.0.2")  # another address has its own share
    limits.release("10.0.0.1")
    assert limits.admit("10.0.0.1")


def test_counts_are_forgotten_when_an_address_has_no_connection() -> None:
    limits = Limits(per_address=1)
    for _ in range(3):
        assert limits.admit("10.0.0.1")
        limits.release("10.0.0.1")
    assert limits.counts == {}


def test_exempt_addresses_are_never_refused() -> None:
    limits = Limits(per_address=1, exempt=lambda address: address == "127.0.0.1")
    assert all(limits.admit("127.0.0.1") for _ in range(10))
    assert limits.admit("10.0.0.1")
    assert not limits.admit("10.0.0.1")
