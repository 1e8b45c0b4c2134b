"""Callback public keys fetched safely (issue 17), through a real nginx.

OSS names its key `http://gosspublic.alicdn.com/...`; upsign must fetch every key over https
(same host, port and path), verify the certificate and host (trusting `[callback] ca_file` when
set), and bound the fetching that unauthenticated callers can cause: one fetch per URL at a time,
a few fetches at once overall (past that a callback fails at once with 502 key_fetch_failed
rather than queueing), failures remembered briefly.

The PKI is made here with pki.py (a test CA, a rogue CA, leaf certificates for 127.0.0.1 and for
`localhost` only); the key servers are oss_callback_sim's KeyServer speaking TLS on loopback, the
plain listener and the silent one harness/listeners.py; OSS itself is played by
oss_callback_sim.py. The flood test prints the latencies it measured and
asserts only that every probe was answered 200 within a generous guard.

Runtime: ~5 s, most of it the flood waiting out the fetches the blackhole holds (they end at
the worker's 3 s connect timeout, which covers the TLS handshake).
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import statistics
import threading
import time
import uuid as uuidlib
from pathlib import Path

import pytest
from cryptography import x509

import helpers
import oss_callback_sim as sim
import pki
from harness.listeners import Blackhole, Sniffer
from harness.nginx import Nginx
from harness.stack import Stack, start_stack

FETCH_BOUND = 4            # PublicKeyStore.Limits.maxFetches
FLOOD = 1000               # callbacks naming distinct allowed URLs that never answer
GUARD_S = 10.0             # every probe must be answered within this

SERVER = {"base_path": "/upload", "identity_param": "UPSIGN_USER", "threads": 16, "default_profile": "p"}
PROFILES = {"p": helpers.profile(format="native")}
CB_BODY = '{{"bucket":"examplebucket","object":"{object}","size":123,"mimeType":"image/jpeg","etag":"{etag}"}}'


# --------------------------------------------------------------------------------------------
# A PKI of our own


CA, LOOPBACK = pki.CA, pki.LOOPBACK


# --------------------------------------------------------------------------------------------
# Fixtures


class World:
    """The PKI, the key servers and the OSS key they serve."""

    def __init__(self):
        self.dir = helpers.scratch_dir("uskeys")
        self.oss_key = sim.new_key(1024)
        pem = sim.public_pem(self.oss_key)
        test_ca, rogue_ca = CA("upsign test CA"), CA("rogue CA")
        self.ca_file = test_ca.write(self.dir / "test-ca.pem")
        self.good = sim.KeyServer(tls=test_ca.leaf(self.dir, "good", LOOPBACK))
        self.rogue = sim.KeyServer(tls=rogue_ca.leaf(self.dir, "rogue", LOOPBACK))
        self.wrong_host = sim.KeyServer(tls=test_ca.leaf(self.dir, "localhost-only", [x509.DNSName("localhost")]))
        for ks in (self.good, self.rogue, self.wrong_host):
            ks.add("/key.pem", pem)
        self.sniffer = Sniffer()
        self.blackhole = Blackhole()

    def prefixes(self) -> list[str]:
        return [f"https://127.0.0.1:{self.good.port}/", f"https://127.0.0.1:{self.rogue.port}/",
                f"https://127.0.0.1:{self.wrong_host.port}/", f"http://127.0.0.1:{self.sniffer.port}/",
                f"https://127.0.0.1:{self.blackhole.port}/"]

    def close(self):
        for s in (self.good, self.rogue, self.wrong_host, self.sniffer, self.blackhole):
            s.close()


@pytest.fixture(scope="module")
def world():
    w = World()
    yield w
    w.close()


def _config(directory: Path, world: World, *, ca_file: bool) -> Path:
    """The stack's configuration. Callbacks carry no upsign binding here, so `require_binding`
    is turned off when the binary knows that key (the test is about keys, not bindings)."""
    tv = helpers.toml_value
    records = directory / "uploads.jsonl"
    base = helpers.toml_text(SERVER, PROFILES) + "\n[callback]\n"
    base += f"public_key_url_prefixes = {tv(world.prefixes())}\n"
    base += f"records = {tv(str(records))}\n"
    if ca_file:
        base += f"ca_file = {tv(str(world.ca_file))}\n"
    cfg = directory / "upsign.toml"
    for text in (base + "require_binding = false\n", base):
        cfg.write_text(text)
        proc = helpers.run_cli(["check-config", "--config", str(cfg)], env=helpers.cred_env(token=True))
        if proc.returncode == 0:
            return cfg
    raise AssertionError(f"test config refused: {proc.stdout}{proc.stderr}")


@pytest.fixture(scope="module")
def stack(nginx_bin, world):
    s = start_stack(_config(helpers.scratch_dir("uskeycfg"), world, ca_file=True),
                             env=helpers.cred_env(token=True), keepalive=32)
    yield s
    s.close()


@pytest.fixture(scope="module")
def flood_stack(nginx_bin, world):
    """A stack whose nginx takes 1,000 client connections at once (and as many to the worker)."""
    d = helpers.scratch_dir("usstk")
    sock = d / "upsign.sock"
    worker = helpers.Worker(helpers.serve_argv(_config(d, world, ca_file=True), listen=f"unix:{sock}"),
                            helpers.cred_env(token=True), name="flood", log_dir=d)
    try:
        helpers.wait_unix_socket(sock, worker)
        nginx = Nginx(f"unix:{sock}", keepalive=32, worker_connections=4096, backlog=2048)
    except BaseException:
        worker.stop()
        raise
    s = Stack(worker, nginx)
    yield s
    s.close()


@pytest.fixture(scope="module")
def stack_without_ca(nginx_bin, world):
    s = start_stack(_config(helpers.scratch_dir("uskeycfg"), world, ca_file=False),
                             env=helpers.cred_env(token=True))
    yield s
    s.close()


# --------------------------------------------------------------------------------------------
# Requests


def callback_request(world: World, key_url: str, *, signed: bool = True) -> tuple[str, bytes, dict]:
    body = CB_BODY.format(object=f"keys/{uuidlib.uuid4().hex}.jpg", etag=uuidlib.uuid4().hex.upper()).encode()
    target = "/upload/callback"
    auth = sim.sign(world.oss_key, target, body) if signed else base64.b64encode(b"\x01" * 128).decode()
    headers = {"Content-Type": "application/json", "authorization": auth, "x-oss-pub-key-url": sim.b64(key_url)}
    return target, body, headers


def post(port: int, target: str, body: bytes, headers: dict, timeout: float = 30) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", target, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def send_callback(stack, world: World, key_url: str) -> tuple[int, bytes]:
    return post(stack.nginx.port, *callback_request(world, key_url))


def error_code(data: bytes) -> str | None:
    try:
        return json.loads(data)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def assert_verified(status: int, data: bytes) -> None:
    assert status == 200, f"{status}: {data[:300]!r}"
    assert json.loads(data) == {"ok": True}, data[:300]


# --------------------------------------------------------------------------------------------
# HTTPS only


def test_an_http_key_url_is_fetched_over_https_and_verifies(stack, world):
    """OSS's real form of key URL, `http://…`, allowed by an `https://` prefix: one TLS request
    reaches the key server, and the `https://` spelling of the same URL shares its cache entry."""
    port = world.good.port
    status, data = send_callback(stack, world, f"http://127.0.0.1:{port}/key.pem")
    assert_verified(status, data)
    requests, failures = world.good.tls_snapshot()
    assert failures == [], failures
    assert len(requests) == 1 and requests[0][0] == "/key.pem", requests
    assert requests[0][1] in ("TLSv1.2", "TLSv1.3"), requests
    assert_verified(*send_callback(stack, world, f"https://127.0.0.1:{port}/key.pem"))
    assert world.good.tls_snapshot()[0] == requests, "the https spelling fetched the key again"


def test_a_plain_http_listener_sees_a_tls_handshake_not_a_request(stack, world):
    """A key URL naming a plain-HTTP port (allowed by an `http://` prefix): upsign speaks TLS to
    it, so the listener's first byte is 0x16 (a TLS handshake record), never `GET`, and no key
    crosses in the clear; the callback is a 502."""
    before = len(world.sniffer.seen())
    status, data = send_callback(stack, world, f"http://127.0.0.1:{world.sniffer.port}/key.pem")
    assert status == 502 and error_code(data) == "key_fetch_failed", (status, data[:300])
    seen = world.sniffer.seen()[before:]
    assert len(seen) == 1, f"{len(seen)} connections for one callback: {seen}"
    assert seen[0][:1] == b"\x16" and seen[0][1:2] == b"\x03", f"first bytes {seen[0]!r} are not a TLS handshake"


@pytest.mark.parametrize("server", ["rogue", "wrong_host"])
def test_a_key_server_that_fails_verification_is_502(stack, world, server):
    """A certificate from a CA not trusted (`rogue`), or from the trusted CA for another host
    name (`wrong_host`, a certificate for `localhost` reached as 127.0.0.1): no GET is sent."""
    ks = getattr(world, server)
    status, data = send_callback(stack, world, f"http://127.0.0.1:{ks.port}/key.pem")
    assert status == 502 and error_code(data) == "key_fetch_failed", (status, data[:300])
    requests, failures = ks.tls_snapshot()
    assert requests == [], f"a request was sent over an unverified connection: {requests}"
    if server == "rogue":
        # The worker refuses the certificate during the handshake (curl checks the host name
        # after it, then hangs up without a request).
        deadline = time.monotonic() + 3
        while not ks.tls_snapshot()[1] and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(ks.tls_snapshot()[1]) == 1, ks.tls_snapshot()


def test_without_the_test_ca_trusted_the_key_server_is_502(stack_without_ca, world):
    before_requests, before_failures = world.good.tls_snapshot()
    status, data = send_callback(stack_without_ca, world, f"http://127.0.0.1:{world.good.port}/key.pem")
    assert status == 502 and error_code(data) == "key_fetch_failed", (status, data[:300])
    # The server thread records the refused handshake once it sees the worker hang up, which may
    # be after the worker answered: wait for the record (bounded), then check.
    deadline = time.monotonic() + 3
    while len(world.good.tls_snapshot()[1]) == len(before_failures) and time.monotonic() < deadline:
        time.sleep(0.02)
    requests, failures = world.good.tls_snapshot()
    assert requests == before_requests, "the key was fetched from a server the worker should not trust"
    assert len(failures) == len(before_failures) + 1, failures


# --------------------------------------------------------------------------------------------
# A flood of callbacks naming keys that never come


async def _flood(port: int, requests: list[tuple[str, bytes, dict]]) -> list[tuple[int, str | None, float]]:
    """Sends every request on a connection of its own, all at once; (status, code, seconds) each."""
    async def one(target: str, body: bytes, headers: dict) -> tuple[int, str | None, float]:
        head = f"POST {target} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        t0 = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head.encode() + body)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 30)
        finally:
            writer.close()
        elapsed = time.monotonic() - t0
        status_line, _, rest = answer.partition(b"\r\n")
        return int(status_line.split()[1]), error_code(rest.partition(b"\r\n\r\n")[2]), elapsed

    async def caught(target: str, body: bytes, headers: dict) -> tuple[int, str | None, float]:
        t0 = time.monotonic()
        try:
            return await one(target, body, headers)
        except (OSError, asyncio.TimeoutError, ValueError, IndexError) as e:
            return 0, type(e).__name__, time.monotonic() - t0

    return await asyncio.gather(*(caught(*r) for r in requests))


def test_a_flood_of_unfetchable_keys_holds_up_nothing(flood_stack, world):
    """1,000 unsigned callbacks, each naming a distinct allowed URL on a server that accepts and
    never answers, sent at once, each on its own connection. Meanwhile policy requests and a
    callback whose key is cached keep being answered; the worker never has more than FETCH_BOUND
    key fetches open; every flood callback is a 502 key_fetch_failed."""
    stack = flood_stack
    good_url = f"http://127.0.0.1:{world.good.port}/key.pem"
    assert_verified(*send_callback(stack, world, good_url))        # the good key is cached
    port = stack.nginx.port
    bh = world.blackhole.port
    flood_requests = [callback_request(world, f"http://127.0.0.1:{bh}/flood/{i:04d}.pem", signed=False)
                      for i in range(FLOOD)]
    flood_results: list[tuple[int, str | None, float]] = []
    flooding = threading.Event()
    flooding.set()
    probes: dict[str, list[tuple[int, float]]] = {"policy": [], "cached-key callback": []}

    def timed(name: str, call) -> None:
        t0 = time.monotonic()
        try:
            status = call()
        except (http.client.HTTPException, OSError) as e:      # a timeout too: a probe stuck
            status = f"{type(e).__name__}"
        probes[name].append((status, time.monotonic() - t0))

    def get_policy() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD_S + 5)
        try:
            conn.request("GET", "/upload/policy?filename=a.jpg", headers={"X-Test-User": "alice"})
            r = conn.getresponse()
            r.read()
            return r.status
        finally:
            conn.close()

    def probe():
        while flooding.is_set():
            timed("policy", get_policy)
            timed("cached-key callback", lambda: post(port, *callback_request(world, good_url), timeout=GUARD_S + 5)[0])
            time.sleep(0.01)

    def flood():
        flood_results.extend(asyncio.run(_flood(port, flood_requests)))

    prober = threading.Thread(target=probe, daemon=True)
    sender = threading.Thread(target=flood, daemon=True)
    prober.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    sender.start()
    sender.join(timeout=60)
    flood_s = time.monotonic() - t0
    # Probe on until the fetches the blackhole holds have ended (the worker's fetch timeout).
    deadline = time.monotonic() + 15
    while world.blackhole.counts()[0] and time.monotonic() < deadline:
        time.sleep(0.05)
    flooding.clear()
    prober.join(timeout=30)
    assert not sender.is_alive(), "the flood was not answered within 60 s"
    assert not prober.is_alive(), "the prober is stuck"
    still_open, max_open, accepted = world.blackhole.counts()

    codes: dict[tuple[int, str | None], int] = {}
    for status, code, _ in flood_results:
        codes[(status, code)] = codes.get((status, code), 0) + 1

    def summary(name: str, lat: list[float]) -> str:
        lat = sorted(lat)
        return (f"{name}: {len(lat)} answered, median {statistics.median(lat) * 1000:.1f} ms, "
                f"p99 {lat[int(len(lat) * 0.99)] * 1000:.1f} ms, max {lat[-1] * 1000:.1f} ms") if lat else f"{name}: none"

    print(f"\nflood: {FLOOD} callbacks at once in {flood_s:.2f} s -> {codes}; "
          f"blackhole: {accepted} connections, at most {max_open} open at once\n"
          f"  {summary('flood callbacks', [e for _, _, e in flood_results])}\n"
          + "".join(f"  {summary(name, [e for _, e in results])}\n" for name, results in probes.items()))

    assert len(flood_results) == FLOOD, f"{len(flood_results)} flood answers for {FLOOD}"
    assert codes == {(502, "key_fetch_failed"): FLOOD}, codes
    for name, results in probes.items():
        assert results, f"no {name} probe was answered during the flood"
        bad = [r for r in results if r[0] != 200 or r[1] > GUARD_S]
        assert not bad, f"{name}: {len(bad)} of {len(results)} probes failed or exceeded {GUARD_S} s: {bad[:5]}"
    assert 1 <= max_open <= FETCH_BOUND, f"{max_open} key fetches open at once (bound {FETCH_BOUND})"
    assert still_open == 0, f"{still_open} key fetches still open 15 s after the flood"
