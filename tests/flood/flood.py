#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A connection flood against one HTTP endpoint (TCP or unix socket), as a slowloris attacker or a crowd of
dead clients would make it: N connections held open, a mix of
  idle       connected, never sends a byte;
  stalled    sent a request line and a header, then goes quiet;
  trickle    sends a partial request one byte at a time, every --trickle seconds, never finishing it;
  keepalive  sent a complete request, read the answer, and keeps the connection open without a second one.
With --reconnect (reconnect=True) a connection the server closes is opened again at once, as an attacker
would, so that n are always held or being opened. Meanwhile and afterwards it sends normal requests (probes) and says whether and when they were answered.

As a program it prints a timeline, e.g. against a running loggen or the supervisor's status socket:
  tests/flood/flood.py 127.0.0.1:8081 --path /health -n 500 --hold 20 --reconnect
  tests/flood/flood.py /run/otel-supervisor/status.sock --path /v1/status
test_flood.py imports it."""
import argparse
import errno
import multiprocessing
import os
import resource
import selectors
import socket
import sys
import threading
import time

KINDS = ("idle", "stalled", "trickle", "keepalive")


def raise_fd_limit(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 256))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def parse_target(s):
    """'HOST:PORT' or a unix socket path (anything with a '/')."""
    if "/" in s:
        return ("unix", s)
    host, _, port = s.rpartition(":")
    return ("tcp", (host.strip("[]") or "127.0.0.1", int(port)))


def new_socket(target):
    if target[0] == "unix":
        return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    family = socket.AF_INET6 if ":" in target[1][0] else socket.AF_INET
    return socket.socket(family, socket.SOCK_STREAM)


def request_bytes(path, host="flood", close=True):
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n").encode()


def probe(target, path, timeout):
    """One normal request on a new connection. Returns (status or None, seconds, error text or None): the
    status once the whole answer is in, or None when nothing complete arrived within timeout."""
    start = time.monotonic()
    s = new_socket(target)
    s.settimeout(timeout)
    data = b""
    try:
        s.connect(target[1])
        s.sendall(request_bytes(path))
        while True:
            left = timeout - (time.monotonic() - start)
            if left <= 0:
                raise socket.timeout()
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return None, time.monotonic() - start, "no answer within %.1fs (%d bytes)" % (timeout, len(data))
    except OSError as e:
        if not data:
            return None, time.monotonic() - start, f"{type(e).__name__}: {e}"
    finally:
        s.close()
    elapsed = time.monotonic() - start
    if not data.startswith(b"HTTP/1."):
        return None, elapsed, "connection closed without an answer" if not data else f"not HTTP: {data[:40]!r}"
    return int(data.split(b" ", 2)[1]), elapsed, None


class Conn:
    __slots__ = ("sock", "kind", "state", "sent", "buf")

    def __init__(self, sock, kind):
        self.sock = sock
        self.kind = kind
        self.state = "connecting"  # -> open -> closed (by the server) | failed (connect failed)
        self.sent = 0
        self.buf = b""


class Flood:
    """Holds n connections to target open until stop(); kinds are dealt round robin."""

    def __init__(self, target, n, path="/", kinds=KINDS, trickle=0.5, reconnect=False):
        self.target = target
        self.reconnect = reconnect
        self.reconnects = 0
        self.n = n
        self.path = path
        self.kinds = kinds
        self.trickle = trickle
        self.conns = []
        self.sel = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = None
        self.partial = f"GET {path} HTTP/1.1\r\nHost: flood\r\nX-Slow: ".encode()
        raise_fd_limit(n)

    def _open(self, kind):
        s = new_socket(self.target)
        s.setblocking(False)
        c = Conn(s, kind)
        err = s.connect_ex(self.target[1])
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):  # EAGAIN: a unix socket's backlog is full
            c.state = "failed"
            s.close()
        else:
            self.sel.register(s, selectors.EVENT_WRITE, c)
        return c

    def start(self):
        for i in range(self.n):
            self.conns.append(self._open(self.kinds[i % len(self.kinds)]))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _opened(self, c):
        c.state = "open"
        if c.kind == "stalled":
            c.sock.send(self.partial)
        elif c.kind == "keepalive":
            c.sock.send(request_bytes(self.path, close=False))
        elif c.kind == "trickle":
            c.sock.send(self.partial[:1])
            c.sent = 1
        self.sel.modify(c.sock, selectors.EVENT_READ, c)

    def _closed(self, c):
        c.state = "closed"
        self.sel.unregister(c.sock)
        c.sock.close()
        if self.reconnect and not self.stopping:
            self.conns[self.conns.index(c)] = self._open(c.kind)
            self.reconnects += 1

    def _run(self):
        next_trickle = time.monotonic() + self.trickle
        while not self.stopping:
            for key, ev in self.sel.select(timeout=max(0.0, min(0.1, next_trickle - time.monotonic()))):
                c = key.data
                with self.lock:
                    try:
                        if c.state == "connecting":
                            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                            if err:
                                c.state = "failed"
                                self.sel.unregister(c.sock)
                                c.sock.close()
                            else:
                                self._opened(c)
                            continue
                        data = c.sock.recv(65536)
                        if not data:
                            self._closed(c)
                        # An answer (to keepalive, or an error the server sent) is read and the connection
                        # kept, as a client that never closes would.
                    except OSError:
                        self._closed(c)
            if time.monotonic() >= next_trickle:
                next_trickle += self.trickle
                with self.lock:
                    for c in self.conns:
                        if c.kind == "trickle" and c.state == "open":
                            b = self.partial[c.sent:c.sent + 1] or b"a"
                            try:
                                c.sock.send(b)
                                c.sent += 1
                            except OSError:
                                self._closed(c)

    def counts(self):
        """{'connecting': n, 'open': n, 'closed': n, 'failed': n}: open means the client still holds it;
        closed means the server closed it; connecting means not even the kernel accepted it yet."""
        out = {"connecting": 0, "open": 0, "closed": 0, "failed": 0}
        with self.lock:
            for c in self.conns:
                out[c.state] += 1
            if self.reconnect:
                out["reopened"] = self.reconnects
        return out

    def stop(self):
        self.stopping = True
        if self.thread:
            self.thread.join()
        for c in self.conns:
            if c.state in ("connecting", "open"):
                try:
                    self.sel.unregister(c.sock)
                except (KeyError, ValueError):
                    pass
                c.sock.close()
        self.sel.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _flood_child(conn, args, kwargs):
    fl = Flood(*args, **kwargs).start()
    conn.send("started")
    while True:
        msg = conn.recv()
        if msg == "stop":
            counts = fl.counts()
            fl.stop()
            conn.send(counts)
            return
        conn.send(fl.counts())


class FloodProcess:
    """A Flood run by a child process, as an attacker would be: the prober's requests never wait for the
    flood's thread to let go of the interpreter."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        self.proc = None
        self.conn = None

    def start(self):
        self.conn, child = multiprocessing.Pipe()
        self.proc = multiprocessing.get_context("fork").Process(target=_flood_child, args=(child, self.args, self.kwargs), daemon=True)
        self.proc.start()
        if not self.conn.poll(60):
            raise RuntimeError("the flood process did not start")
        assert self.conn.recv() == "started"
        return self

    def counts(self):
        self.conn.send("counts")
        return self.conn.recv()

    def stop(self):
        """Closes every connection; returns the last counts."""
        self.conn.send("stop")
        counts = self.conn.recv()
        self.proc.join(30)
        return counts

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc.is_alive():
            self.stop()


def fmt_probe(p):
    status, secs, err = p
    return f"{status} in {secs:.3f}s" if status else f"NO ANSWER after {secs:.3f}s ({err})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", help="HOST:PORT, or the path of a unix socket")
    ap.add_argument("--path", default="/health", help="path of the probes and the flood's requests")
    ap.add_argument("-n", type=int, default=500, help="connections to hold")
    ap.add_argument("--kinds", default=",".join(KINDS), help="kinds of connection, dealt round robin")
    ap.add_argument("--trickle", type=float, default=0.5, help="seconds between two bytes of a trickle")
    ap.add_argument("--hold", type=float, default=20, help="seconds to hold the connections")
    ap.add_argument("--after", type=float, default=20, help="seconds to keep probing once they are closed")
    ap.add_argument("--every", type=float, default=2, help="seconds between probes")
    ap.add_argument("--timeout", type=float, default=2, help="a probe's deadline")
    ap.add_argument("--reconnect", action="store_true", help="reopen every connection the server closes")
    a = ap.parse_args()

    target = parse_target(a.target)
    print(f"before: {fmt_probe(probe(target, a.path, a.timeout))}", flush=True)
    t0 = time.monotonic()
    fl = FloodProcess(target, a.n, a.path, tuple(a.kinds.split(",")), a.trickle, a.reconnect).start()
    try:
        while time.monotonic() - t0 < a.hold:
            time.sleep(a.every)
            p = probe(target, a.path, a.timeout)
            print(f"+{time.monotonic() - t0:5.1f}s held {fl.counts()}: {fmt_probe(p)}", flush=True)
    finally:
        counts = fl.stop()
    print(f"+{time.monotonic() - t0:5.1f}s closed the flood ({counts})", flush=True)
    t1 = time.monotonic()
    ok = False
    while time.monotonic() - t1 < a.after:
        p = probe(target, a.path, a.timeout)
        print(f"+{time.monotonic() - t0:5.1f}s after: {fmt_probe(p)}", flush=True)
        ok = p[0] is not None
        time.sleep(a.every)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
