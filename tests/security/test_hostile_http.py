# SPDX-License-Identifier: MIT
"""Hostile HTTP on every port the project opens — the supervisor's status socket and TCP port, the
shipper's :2020, loggen's health port, the ClickHouse endpoint: malformed request lines, oversized headers
and URLs, bad versions and methods, broken framing, NUL bytes, path traversal, huge bodies. Each gets the
right 4xx (505 for a version it does not speak), nothing crashes, and a normal request is still answered."""
import os
import select
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "flood"))
import test_flood as progs  # noqa: E402  (starts each program as the flood tests do)

H = b"Host: t\r\n"
BIG = 2 << 20  # over every port's header memory (32 KiB for src/common/http-server.c, 1 MiB for the endpoint)
CASES = [
    # name, raw request ({path}, {post} and {auth} filled per port), acceptable statuses: a set, or a pair
    # (statuses where {post} takes a body, statuses where it does not: 405 comes before the body is read).
    # 0 is a connection closed without an answer: acceptable only where said (libmicrohttpd 0.9.75 closes
    # on a request line it cannot read).
    ("garbage request line", b"GARBAGE\r\n\r\n", {400, 0}),
    ("HTTP/1.1 without Host", b"GET {path} HTTP/1.1\r\n\r\n", {400}),
    ("two Host headers", b"GET {path} HTTP/1.1\r\n" + H + b"Host: u\r\n\r\n", {400}),
    ("unknown version", b"GET {path} HTTP/9.9\r\n" + H + b"\r\n", {505}),
    ("unknown method", b"BREW {path} HTTP/1.1\r\n" + H + b"\r\n", {400, 405, 501}),
    ("URI of 2 MiB", b"GET /" + b"a" * BIG + b" HTTP/1.1\r\n" + H + b"\r\n", {414}),
    ("header of 2 MiB", b"GET {path} HTTP/1.1\r\n" + H + b"X-A: " + b"a" * BIG + b"\r\n\r\n", {431}),
    ("Content-Length not a number", b"POST {post} HTTP/1.1\r\n" + H + b"{auth}Content-Length: abc\r\n\r\n", {400}),
    ("negative Content-Length", b"POST {post} HTTP/1.1\r\n" + H + b"{auth}Content-Length: -1\r\n\r\n", {400}),
    ("conflicting Content-Length", b"POST {post} HTTP/1.1\r\n" + H + b"{auth}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     {400}),
    ("Content-Length and chunked", b"POST {post} HTTP/1.1\r\n" + H + b"{auth}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\nab\r\n0\r\n\r\n", {400}),
    ("bad chunk size", b"POST {post} HTTP/1.1\r\n" + H + b"{auth}Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
     ({400}, {405})),
    ("path traversal", b"GET /../../../../etc/passwd HTTP/1.1\r\n" + H + b"\r\n", {400, 404}),
    ("bad percent-encoding", b"GET /%zz%/%00 HTTP/1.1\r\n" + H + b"\r\n", {400, 404}),
    # libmicrohttpd 0.9.75 ends a header value at a NUL byte: no answer is right or wrong here, the server
    # only must not fall over.
    ("NUL in a header", b"GET {path} HTTP/1.1\r\n" + H + b"X-A: a\x00b\r\n\r\n", None),
]


def send(addr, raw, body=b"", timeout=30):
    """Sends raw bytes (and body) while reading what comes back, so that an answer sent before the server
    closes a connection it has not read to the end (the kernel then resets it) is still seen. Returns the
    status code, 0 if the connection closed without an answer, or -1 if nothing came within timeout."""
    kind, where = addr
    s = socket.socket(socket.AF_UNIX if kind == "unix" else socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    data, out = b"", raw + body
    deadline = time.monotonic() + timeout
    try:
        s.settimeout(timeout)
        s.connect(where)
        s.setblocking(False)
        closed = False
        while b"\r\n" not in data and not closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return -1
            r, w, _ = select.select([s], [s] if out else [], [], left)
            if r:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, BlockingIOError):
                    chunk = b""
                if not chunk:
                    closed = True
                data += chunk
            elif w:
                try:
                    out = out[s.send(out[:65536]):]
                except (BrokenPipeError, ConnectionResetError):
                    out = b""
                except BlockingIOError:
                    pass
    finally:
        s.close()
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else 0


def targets():
    return ["loggen", "shipper", "supervisor-socket", "supervisor-tcp", "clickhouse-endpoint"]


@pytest.fixture(params=targets())
def target(request, tmp_path):
    """Yields the program, its address, a path to GET, a path to POST to (one that takes a body where the
    port has one), the headers that path needs, and whether it takes a body."""
    which = request.param
    post, auth, takes_body = None, b"", False
    if which == "loggen":
        p, addr, path = progs.start_loggen(tmp_path)
    elif which == "shipper":
        p, addr, path = progs.start_shipper(tmp_path)
    elif which == "clickhouse-endpoint":
        p, addr, path = progs.start_endpoint(tmp_path)
        # Bodies go to the query handler, which reads them (/ping answers before reading any body).
        password = (tmp_path / "secrets" / "reader.password").read_text().strip()
        post, auth = "/?query=SELECT%201", f"X-ClickHouse-User: otel_reader\r\nX-ClickHouse-Key: {password}\r\n".encode()
        takes_body = True
    else:
        p, port, sock = progs.start_supervisor(tmp_path)
        addr = ("unix", sock) if which == "supervisor-socket" else ("tcp", ("127.0.0.1", port))
        path = "/v1/status" if which == "supervisor-socket" else "/healthz"
        if which == "supervisor-socket":
            # A POST route with a body limit (4 KiB); in local mode it only answers 409.
            post, takes_body = "/v1/reapply", True
    yield which, p, addr, path, post or path, auth, takes_body
    p.stop()


def test_hostile_requests(target):
    which, p, addr, path, post, auth, takes_body = target
    wrong = []
    for name, raw, want in CASES:
        if isinstance(want, tuple):
            want = want[0] if takes_body else want[1]
        raw = raw.replace(b"{path}", path.encode()).replace(b"{post}", post.encode()).replace(b"{auth}", auth)
        got = send(addr, raw)
        if want is not None and got not in want:
            wrong.append(f"{name}: {got}, want {sorted(want)}")
        assert p.proc.poll() is None, f"{which} died on '{name}':\n{p.text()[-3000:]}"
    # A body of 10 MiB: refused before it is read where the path takes none (405) or takes less (413); the
    # endpoint reads it as the query text it is and answers with a syntax error (400). Never buffered
    # without bound.
    got = send(addr, b"POST %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: 10485760\r\n\r\n" % (post.encode(), auth),
               body=b"x" * (10 << 20))
    want = {400, 413} if which == "clickhouse-endpoint" else {413} if takes_body else {405}
    if got not in want:
        wrong.append(f"POST of 10 MiB: {got}, want {sorted(want)}")
    assert p.proc.poll() is None, f"{which} died on a 10 MiB body:\n{p.text()[-3000:]}"
    # Still serving.
    assert send(addr, b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path.encode()) in {200, 503}
    assert not wrong, f"{which}: " + "; ".join(wrong)
