"""Loopback listeners that misbehave on purpose: one that records the first bytes of every
connection and hangs up (a TLS client's first byte is 0x16), one that accepts and never answers."""

from __future__ import annotations

import selectors
import socket
import threading


class Sniffer:
    """A TCP listener that records the first bytes of every connection, then hangs up: a TLS
    client's first byte is 0x16 (a handshake record); a plain HTTP client's is the method."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.first_bytes: list[bytes] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(3)
                try:
                    data = conn.recv(5)
                except OSError:
                    data = b""
                with self._lock:
                    self.first_bytes.append(data)

    def seen(self) -> list[bytes]:
        with self._lock:
            return list(self.first_bytes)

    def close(self):
        self.sock.close()


class Blackhole:
    """Accepts connections and never says a word; counts the connections open at once."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.open = self.max_open = self.accepted = 0
        self._lock = threading.Lock()
        self._stop = False
        self._sel = selectors.DefaultSelector()
        self._sel.register(self.sock, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop:
            for key, _ in self._sel.select(0.05):
                if key.fileobj is self.sock:
                    while True:
                        try:
                            conn, _ = self.sock.accept()
                        except BlockingIOError:
                            break
                        conn.setblocking(False)
                        self._sel.register(conn, selectors.EVENT_READ)
                        with self._lock:
                            self.accepted += 1
                            self.open += 1
                            self.max_open = max(self.max_open, self.open)
                else:
                    conn = key.fileobj
                    try:
                        data = conn.recv(65536)      # a ClientHello, read and ignored
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._sel.unregister(conn)
                        conn.close()
                        with self._lock:
                            self.open -= 1

    def counts(self) -> tuple[int, int, int]:
        with self._lock:
            return self.open, self.max_open, self.accepted

    def close(self):
        self._stop = True
        self._thread.join(timeout=2)
        for key in list(self._sel.get_map().values()):
            key.fileobj.close()
