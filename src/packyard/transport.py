"""packyard's waitress transport: the request parser, task and channel it serves with.

Left alone, waitress reads a request's whole body (spooling it to a temporary file)
before the application runs, answers ``Expect: 100-continue`` as soon as the head is
in, lets a client take as long as it likes over its head, takes any number of
connections from one address, and parks a worker thread when a pipelined request
follows an answer its client does not read. This module changes these five things at
the places in waitress's parser and channel where they happen:

- the gate: once a request's head is complete and it announces a body, the channel
  stops reading and asks the application (``may_read_body``, on a worker thread since
  it may verify a password) whether the body may be read. If not, the request goes to
  the application without its body, flagged with ``httputil.BODY_NOT_READ``; the
  application answers from the head (401/403/404/405/413), no ``100 Continue`` is
  sent, and the connection is closed after the answer (the body is still on the wire);
- a request head not complete ``header_timeout`` seconds after its first byte closes
  the connection;
- one client address holds at most ``per_address`` connections: more are closed as
  soon as they are accepted (trusted proxies are exempt);
- a channel whose unsent output is above waitress's high watermark starts its next
  pipelined request only when the output has drained, instead of a thread waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import ErrorTask, WSGITask

from packyard.httputil import BODY_NOT_READ

log = logging.getLogger(__name__)

# Says, from a WSGI environ holding the request's head only, if its body may be read.
Gate = Callable[[Mapping[str, Any]], bool]


@dataclass
class Limits:
    """What the channels of one server share: the gate, the header deadline, and the
    connections each client address holds."""

    gate: Gate | None = None
    header_timeout: float = 20.0
    per_address: int = 0  # 0: no limit
    exempt: Callable[[str], bool] | None = None  # addresses never limited (proxies)
    counts: dict[str, int] = field(default_factory=dict)
    _warned: float = 0.0

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False if it holds its share."""
        held = self.counts.get(address, 0)
        if held >= self.per_address and not (self.exempt and self.exempt(address)):
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.warning(
                    "connections from %s refused: it holds %d, the most one address may "
                    "(--max-connections-per-address)",
                    address,
                    held,
                )
            return False
        self.counts[address] = held + 1
        return True

    def release(self, address: str) -> None:
        held = self.counts.pop(address, 1) - 1
        if held > 0:
            self.counts[address] = held

    def maintain(self, server: Any, now: float) -> None:
        """Close the connections whose request head is overdue, and those whose next
        request waits for output nobody reads (waitress's own clean-up skips them)."""
        mono = time.monotonic()
        head_cutoff = mono - self.header_timeout
        idle_cutoff = now - server.adj.channel_timeout
        for channel in list(server.active_channels.values()):
            if channel.parked and channel.last_activity < idle_cutoff:
                channel.will_close = True
                continue
            request = channel.request
            if request is None or request.headers_finished:
                continue
            if channel.requests or channel.total_outbufs_len:
                # A pipelined head the channel is not reading yet (earlier answers
                # go first): its deadline counts from when the channel reads again.
                request.started = mono
            elif request.started < head_cutoff:
                log.info(
                    "closed a connection from %s: its request head was not complete "
                    "after %g s (--header-timeout)",
                    channel.addr[0],
                    self.header_timeout,
                )
                channel.will_close = True


class _RequestParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's request parser, which holds back a body until the gate has spoken
    (``held`` is not None meanwhile), and answers 400 for a header it cannot convert (a
    Content-Length of more digits than int() takes; waitress closes the connection)."""

    gated = False  # True in the class a server with a gate uses
    # waitress's, declared for the type checker:
    body_rcv: Any = None
    content_length: int = 0
    expect_continue: bool = False
    held: bytes | None = None  # bytes that came while the gate decides
    verdict: bool | None = None
    asked = False
    continue_wanted = False
    body_not_read = False

    def __init__(self, adj: Any) -> None:
        super().__init__(adj)
        self.started = time.monotonic()

    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except ParsingError:
            raise
        except ValueError:
            raise ParsingError("a header value is invalid (Content-Length?)") from None
        if self.body_rcv is not None and self.gated:
            if self.content_length >= self.adj.max_request_body_size:
                self.skip_body()  # refused whoever asks: the application says why
            else:
                self.held = b""
                self.continue_wanted, self.expect_continue = self.expect_continue, False

    def received(self, data: bytes) -> int:
        if self.held is not None:
            # At most one read's worth: the channel reads nothing more meanwhile.
            self.held += data
            return len(data)
        return int(super().received(data))

    def skip_body(self) -> None:
        """Complete the request without reading its body."""
        if self.body_rcv is not None:
            self.body_rcv.getbuf().close()
        self.body_rcv = None
        self.held = None
        self.content_length = 0
        self.chunked = False
        self.expect_continue = False
        self.body_not_read = True
        self.completed = True


class _Task(WSGITask):  # type: ignore[misc]
    """waitress's request task, keeping an HTTP/1.1 connection open after an answer
    that has no body by definition (304 Not Modified, 204, 1xx). waitress closes every
    HTTP/1.1 answer without a Content-Length, and those must not carry one, so each
    revalidation (uv's If-None-Match) cost a new connection. A request whose body was
    not read always closes its connection (the body would be taken for the next
    request)."""

    _bodiless_keep_alive = False

    def service(self) -> None:
        try:
            super().service()
        finally:
            self.channel.answered = True

    def get_environment(self) -> Any:
        environ = super().get_environment()
        if self.request.body_not_read:
            environ[BODY_NOT_READ] = True
        return environ

    def build_response_header(self) -> Any:
        if self.request.body_not_read:
            self.set_close_on_finish()
        self._bodiless_keep_alive = (
            not self.has_body
            and self.version == "1.1"
            and not self.close_on_finish
            and self.request.headers.get("CONNECTION", "").lower() != "close"
        )
        try:
            return super().build_response_header()
        finally:
            self._bodiless_keep_alive = False

    def set_close_on_finish(self) -> None:
        if self._bodiless_keep_alive:
            return  # nothing follows the head: the next request can use the connection
        super().set_close_on_finish()


class _ErrorTask(ErrorTask):  # type: ignore[misc]
    def service(self) -> None:
        try:
            super().service()
        finally:
            self.channel.answered = True


class _GateCheck:
    """Asks the gate on a worker thread, then wakes the main loop to act on it."""

    def __init__(self, channel: _Channel, request: _RequestParser, gate: Gate) -> None:
        self.channel = channel
        self.request = request
        self.gate = gate

    def service(self) -> None:
        try:
            verdict = bool(self.gate(_head_environ(self.request, self.channel.addr)))
        except Exception:
            log.exception("deciding whether to read a request body failed")
            verdict = False
        self.request.verdict = verdict
        self.channel.server.pull_trigger()

    def cancel(self) -> None:
        self.request.verdict = False


def _head_environ(request: _RequestParser, addr: Any) -> dict[str, Any]:
    """The WSGI environ keys a request's head gives (as waitress's task makes them)."""
    path = request.path
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.command.upper(),
        "PATH_INFO": path,
        "QUERY_STRING": request.query,
        "REMOTE_ADDR": _host(addr),
    }
    for key, value in request.headers.items():
        environ[key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + key] = value
    return environ


class _Channel(HTTPChannel):  # type: ignore[misc]
    parser_class = _RequestParser
    task_class = _Task
    error_task_class = _ErrorTask
    request: Any = None  # the request being received (waitress's)
    limits: Limits | None = None
    counted = False  # counted in limits.counts
    parked = False  # the next request waits for the output to drain
    answered = False  # the current service() has written its answer
    body_left = False  # a body was left unread: nothing more is read

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        limits = self.limits
        if limits is not None and limits.per_address:
            if limits.admit(_host(addr)):
                self.counted = True
            else:
                self.handle_close()  # closed at once: it holds its share already

    def del_channel(self, map: Any = None) -> None:
        if self.counted and self.limits is not None:
            self.counted = False
            self.limits.release(_host(self.addr))
        super().del_channel(map)

    # --- the gate (main thread) ---------------------------------------------------

    def received(self, data: bytes) -> bool:
        result = bool(super().received(data))
        request = self.request
        if request is not None and request.held is not None and not request.asked:
            request.asked = True
            gate = self.limits.gate if self.limits is not None else None
            if gate is None:  # never: only a gated parser holds a body back
                request.verdict = True
            else:
                self.server.add_task(_GateCheck(self, request, gate))
        return result

    def readable(self) -> bool:
        request = self.request
        if request is not None and request.held is not None:
            if request.verdict is None:
                return False  # the gate has not spoken yet
            self._gate_said(request)
        return not self.body_left and bool(super().readable())

    def _gate_said(self, request: _RequestParser) -> None:
        held, request.held = request.held, None
        if request.verdict:
            request.expect_continue = request.continue_wanted
            if held:
                self.received(held)
            elif request.expect_continue and not self.requests and not self.sent_continue:
                self.send_continue()
            return
        request.skip_body()
        self.body_left = True
        with self.requests_lock:
            self.requests.append(request)
            if len(self.requests) == 1:
                self.server.add_task(self)
            self.request = None

    # --- pipelined requests behind an answer nobody reads -----------------------------

    def service(self) -> None:
        high = self.adj.outbuf_high_watermark
        if self.total_outbufs_len > high:
            with self.outbuf_lock:
                if self.connected and self.total_outbufs_len > high:
                    self.parked = True  # handle_write starts it again
                    return
        self.answered = False
        super().service()

    def _flush_outbufs_below_high_watermark(self) -> None:
        if self.answered:
            return  # service() is ending: the next request waits in service(), unthreaded
        super()._flush_outbufs_below_high_watermark()

    def handle_write(self) -> None:
        super().handle_write()
        if self.parked and self.total_outbufs_len <= self.adj.outbuf_high_watermark:
            with self.outbuf_lock:
                if self.parked:
                    self.parked = False
                    if self.connected:
                        self.server.add_task(self)


def _host(addr: Any) -> str:
    return str(addr[0]) if isinstance(addr, tuple) else str(addr)


def install(server: Any, limits: Limits) -> None:
    """Serve every listening socket of ``server`` (one, or several with their own maps)
    with packyard's channel, bound to ``limits``."""
    parser = type("RequestParser", (_RequestParser,), {"gated": limits.gate is not None})
    channel = type("Channel", (_Channel,), {"parser_class": parser, "limits": limits})
    servers = [server, *getattr(server, "map", {}).values()]
    for sub in servers:
        if not hasattr(sub, "channel_class"):
            continue
        sub.channel_class = channel
        sub.maintenance = _maintenance(sub, limits)


def _maintenance(server: Any, limits: Limits) -> Callable[[float], None]:
    waitress_maintenance = server.maintenance

    def maintenance(now: float) -> None:
        waitress_maintenance(now)
        limits.maintain(server, now)

    return maintenance
