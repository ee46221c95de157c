"""A real TCP proxy that tests put between the app and a server (PostgreSQL, Redis) to cut the
network for real.

``TcpProxy(host, port)`` listens on 127.0.0.1 and relays each connection to the upstream server;
``database_proxy(url)`` puts one in front of a database URL and gives the URL through it.
``outage(seconds)`` is a network blip as a database on another machine sees it: every open
connection is dropped at once and, until it ends, new connections are accepted and closed at once
(the client's "server closed the connection unexpectedly"). ``blackhole()`` is a host that
vanishes without a word (powered off, a firewall dropping packets): no connection is closed, but
none carries another byte either way, and new ones are accepted and never answered; after
``restore()`` new connections work again (the silenced ones stay dead, as they would be). This
module is NOT a test double of the server: the commands run on the real one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._down_until = 0.0
        self._silenced: set[socket.socket] = set()  # open when the host vanished: carry nothing
        self._held: list[socket.socket] = []  # accepted while vanished, never answered
        self._vanished = False
        self._closed = False
        self.refused = 0  # connections closed during an outage
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:  # the listener was closed
                return
            if time.monotonic() < self._down_until:
                self.refused += 1
                client.close()
                continue
            if self._vanished:
                with self._lock:
                    self._held.append(client)
                continue
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if source not in self._silenced:  # a vanished host's bytes go nowhere
                    sink.sendall(chunk)
        except OSError:
            pass
        finally:
            self._drop(source, sink)

    def _drop(self, *sockets: socket.socket) -> None:
        with self._lock:
            for sock in sockets:
                self._open.discard(sock)
                self._silenced.discard(sock)
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def outage(self, seconds: float) -> None:
        """Drop every open connection and refuse new ones for ``seconds`` (returns at once)."""
        self._down_until = time.monotonic() + seconds
        with self._lock:
            current = list(self._open)
        self._drop(*current)

    def blackhole(self) -> None:
        """The server's host vanishes without closing anything (returns at once)."""
        with self._lock:
            self._vanished = True
            self._silenced.update(self._open)

    def restore(self) -> None:
        """New connections reach the server again; those held meanwhile are closed."""
        with self._lock:
            self._vanished = False
            held, self._held = self._held, []
        self._drop(*held)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            current = [*self._open, *self._held]
        self._drop(*current)


@contextmanager
def database_proxy(url: str) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy in front of the database at ``url``, and the URL that reaches it through the
    proxy; closed on exit."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
    try:
        yield proxy, parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    finally:
        proxy.close()
