"""packyard.fetch: the byte limit and the deadline, without a server."""

from __future__ import annotations

import http.client
import socket
import time
from typing import cast

import pytest

from packyard.fetch import Deadline, FetchError, TooLarge, read_bounded


class Endless:
    """What read_bounded uses of an HTTPResponse: read1 and length (None: no
    Content-Length). Counts what was asked for."""

    def __init__(self, length: int | None = None, available: int | None = None) -> None:
        self.length = length
        self.available = available  # bytes before the connection "closes"
        self.taken = 0

    def read1(self, n: int) -> bytes:
        if self.available is not None:
            n = min(n, self.available - self.taken)
        if self.length is not None:
            n = min(n, self.length)
            self.length -= n
        self.taken += n
        return bytes(n)


def bounded(response: Endless, limit: int) -> tuple[int, list[bytes]]:
    written: list[bytes] = []
    size = read_bounded(cast(http.client.HTTPResponse, response), limit, written.append)
    return size, written


@pytest.mark.parametrize("limit", [0, 1, 1000, 65536, 65537, 300_000])
def test_reading_stops_at_the_limit_plus_one(limit: int) -> None:
    response = Endless()
    with pytest.raises(TooLarge, match=f"more than {limit} bytes"):
        bounded(response, limit)
    assert response.taken == limit + 1


def test_a_body_within_the_limit_is_written_whole() -> None:
    size, written = bounded(Endless(length=200_000), 200_000)
    assert size == 200_000
    assert sum(map(len, written)) == 200_000


def test_a_body_shorter_than_its_content_length_is_an_error() -> None:
    with pytest.raises(FetchError, match="closed after 10 of 100 bytes"):
        bounded(Endless(length=100, available=10), 1000)


def test_the_deadline_ends_a_blocked_read() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(30)  # far longer than the deadline: only the deadline ends it
        started = time.monotonic()
        with Deadline(0.3) as deadline:
            deadline.watch(ours)
            data = ours.recv(1)
        assert data == b""
        assert deadline.expired
        assert time.monotonic() - started < 10


def test_a_socket_watched_after_the_deadline_is_shut_at_once() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs, Deadline(0.01) as deadline:
        time.sleep(0.2)
        deadline.watch(ours)
        ours.settimeout(5)
        assert ours.recv(1) == b""


def test_a_finished_request_is_left_alone() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        with Deadline(0.1) as deadline:
            deadline.watch(ours)
        time.sleep(0.3)
        assert not deadline.expired
        theirs.sendall(b"x")
        ours.settimeout(5)
        assert ours.recv(1) == b"x"
