"""A program run as a web server runs CGI (RFC 3875): over pipes as mod_cgi does, or over one
connected unix socket kept open after the body as mod_cgid does; and its response parsed
strictly (Status first, one header per line, consistent line ends, exact Content-Length)."""

from __future__ import annotations

import re
import socket
import subprocess
import time

from harness.processes import CAPTURED_OUTPUT



def run_cgi(argv: list[str], env: dict, body: bytes = b"", stdin: str = "pipe",
            timeout: float = 20) -> tuple[int, bytes, str, float]:
    """Run upsign as a web server runs a CGI program. stdin="pipe": mod_cgi (pipes, EOF after
    the body). stdin="socket": mod_cgid (one connected unix socket as fd 0 and fd 1, kept open
    after the body, so only CONTENT_LENGTH says where the body ends)."""
    t0 = time.perf_counter()
    if stdin == "pipe":
        p = subprocess.run(argv, env=env, input=body, capture_output=True, timeout=timeout)
        out, err, rc = p.stdout, p.stderr.decode(errors="replace"), p.returncode
    else:
        ours, theirs = socket.socketpair()
        proc = subprocess.Popen(argv, env=env, stdin=theirs.fileno(), stdout=theirs.fileno(),
                                stderr=subprocess.PIPE)
        theirs.close()
        ours.sendall(body)
        ours.settimeout(timeout)
        chunks = []
        try:
            while True:
                d = ours.recv(65536)
                if not d:
                    break
                chunks.append(d)
        except socket.timeout:
            proc.kill()
            proc.wait()
            raise AssertionError(f"no end of output after {timeout}s with the socket kept open: "
                                 "upsign waits for EOF instead of reading CONTENT_LENGTH bytes")
        except ConnectionResetError:
            rc = proc.wait(timeout=timeout)
            raise AssertionError(
                f"the answer was lost (ECONNRESET, exit {rc}): upsign exited leaving "
                f"{len(body)} body bytes unread on the socket it shares with the server, and "
                "the kernel resets such a socket; mod_cgid then sees 'Connection reset by peer' "
                "instead of the answer. Reading (or draining) CONTENT_LENGTH bytes before exit "
                "avoids it.") from None
        finally:
            ours.close()
        err_b = proc.stderr.read()
        rc = proc.wait(timeout=timeout)
        out, err = b"".join(chunks), err_b.decode(errors="replace")
    took = time.perf_counter() - t0
    CAPTURED_OUTPUT.append(("cgi stdout", out.decode(errors="replace")))
    CAPTURED_OUTPUT.append(("cgi stderr", err))
    return rc, out, err, took


def parse_cgi(out: bytes, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """A CGI response, strictly: `Status:` first, one `Name: value` per line, every line ending
    the same way (CRLF or LF), a blank line, then exactly Content-Length bytes of body."""
    ends = [(out.find(sep), sep) for sep in (b"\r\n\r\n", b"\n\n") if out.find(sep) >= 0]
    assert ends, f"no blank line after the headers: {out[:300]!r}"
    pos, sep = min(ends)
    eol = sep[: len(sep) // 2]
    head, body = out[:pos], out[pos + len(sep):]
    lines = head.split(eol)
    for line in lines:
        assert b"\r" not in line and b"\n" not in line, f"mixed line ends in the headers: {head!r}"
    m = re.fullmatch(rb"Status: (\d{3}) (\S.*)", lines[0])
    assert m, f"first line is not a CGI Status line: {lines[0]!r}"
    status = int(m.group(1))
    headers: dict[str, str] = {}
    for line in lines[1:]:
        hm = re.fullmatch(rb"([A-Za-z0-9-]+): (.*)", line)
        assert hm, f"malformed header line {line!r}"
        name = hm.group(1).decode().lower()
        assert name not in headers and name != "status", f"header {name} twice: {head!r}"
        headers[name] = hm.group(2).decode()
    if method == "HEAD":
        assert body == b"", f"HEAD answered with a body: {body[:100]!r}"
    else:
        assert headers.get("content-length") == str(len(body)), \
            f"Content-Length {headers.get('content-length')!r} for {len(body)} bytes after the headers"
    want = {"content-type", "cache-control", "content-length"} | ({"allow"} if status == 405 else set())
    assert set(headers) == want or (method == "HEAD" and set(headers) == want - {"content-length"}), \
        f"headers {sorted(headers)} != {sorted(want)}"
    assert headers["content-type"].split(";")[0].strip() == "application/json", headers
    assert headers["cache-control"].lower() == "no-store", headers
    return status, headers, body
