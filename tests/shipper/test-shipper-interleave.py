#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The shipper against the embedded ClickHouse endpoint (the real engine) with long lines in parts and the
other stream's lines between the parts, in docker json-file and CRI files. Every row is checked by querying
ClickHouse: its Body whole, its stream (`log.iostream`) and its severity; then the same with the shipper
killed with SIGKILL in the middle of a group and at random points: nothing lost, nothing twice.

  test-shipper-interleave.py SCENARIO --shipper BIN --endpoint BIN --schema-dir DIR
"""
import argparse
import json
import os
import random
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shipper_harness import CONTAINER_ID, Endpoint, Shipper, log, make_workdir, rfc3339, wait_for  # noqa: E402

PART = 16 * 1024  # the runtimes' part size
LEVELS = {"stdout": [("info", "INFO"), ("debug", "DEBUG")], "stderr": [("error", "ERROR"), ("warn", "WARN")]}


class Corpus:
    """Writes one container's log file: messages of both streams, long ones in parts with lines of the
    other stream between them. Keeps what each row must be: count -> (Body, stream, SeverityText)."""

    def __init__(self, directory, pod, fmt, rnd):
        self.pod = pod
        self.fmt = fmt
        self.rnd = rnd
        self.path = os.path.join(directory, f"{pod}_otel-test_app-{CONTAINER_ID}.log")
        self.f = open(self.path, "a")
        self.count = 0
        self.expected = {}
        self.groups = 0
        self.between = 0  # complete lines written between the parts of another stream's line

    def message(self, stream, length):
        """A zap line of about `length` bytes (never more)."""
        self.count += 1
        level, sev = self.rnd.choice(LEVELS[stream])
        # Bodies with characters that need escaping, so that docker's escaped parts differ from the text.
        body = f"m{self.count} " + "".join(self.rnd.choice("abcdefgh \"\\/é\t") for _ in range(length))
        while True:
            text = json.dumps({"level": level, "ts": round(time.time(), 6), "msg": body, "count": self.count},
                              separators=(",", ":"), ensure_ascii=False)
            excess = len(text.encode()) - length
            if excess <= 0 or len(body) <= excess:
                break
            body = body[:len(body) - max(1, excess // 2)]  # escapes and é take two bytes
        self.expected[self.count] = (body, stream, sev)
        return text

    def physical(self, stream, chunk, last):
        ts = rfc3339(time.time())
        if self.fmt == "docker":
            return json.dumps({"log": chunk + ("\n" if last else ""), "stream": stream, "time": ts},
                              separators=(",", ":"), ensure_ascii=False) + "\n"
        return f"{ts} {stream} {'F' if last else 'P'} {chunk}\n"

    def parts(self, stream, text):
        data = text.encode()
        chunks = []
        while data:
            # Split on a character boundary, as a runtime reading a pipe may not: keep the test about
            # interleaving rather than about cut UTF-8 sequences.
            n = min(PART, len(data))
            while n < len(data) and (data[n] & 0xC0) == 0x80:
                n -= 1
            chunks.append(data[:n].decode())
            data = data[n:]
        return chunks

    def plain(self, stream):
        return self.physical(stream, self.message(stream, self.rnd.randint(100, 300)), True)

    def group(self, long_len=None):
        """One message in parts with complete lines of the other stream between the parts (sometimes one
        of those in parts too). Returns the physical lines."""
        self.groups += 1
        main = self.rnd.choice(["stdout", "stderr"]) if long_len is None else "stdout"
        other = "stderr" if main == "stdout" else "stdout"
        chunks = self.parts(main, self.message(main, long_len or self.rnd.randint(PART + 100, 3 * PART)))
        lines = []
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            lines.append(self.physical(main, chunk, last))
            if last:
                break
            for _ in range(self.rnd.randint(1, 3)):
                if self.rnd.random() < 0.2:
                    # The other stream's line in parts as well, crossing.
                    sub = self.parts(other, self.message(other, self.rnd.randint(PART + 100, PART + 500)))
                    assert len(sub) == 2
                    lines.append(self.physical(other, sub[0], False))
                    lines.append(self.physical(main, "", False))  # an empty part changes nothing
                    lines.append(self.physical(other, sub[1], True))
                else:
                    lines.append(self.plain(other))
                self.between += 1
        return lines

    def write(self, lines):
        self.f.write("".join(lines))
        self.f.flush()

    def close(self):
        self.f.close()


def setup(args, name):
    work = make_workdir(name)
    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    ep = Endpoint(args.endpoint, args.schema_dir, work)
    ep.start()
    return work, logs, ep


def stored(ep):
    """pod -> count -> list of (Body, stream, SeverityText, truncated) rows."""
    out = {}
    text = ep.query("SELECT ResourceAttributes['k8s.pod.name'] AS pod, LogAttributes['count'] AS count, Body, "
                    "ResourceAttributes['log.iostream'] AS stream, SeverityText, "
                    "LogAttributes['log.truncated'] AS truncated FROM otel_logs "
                    "WHERE ResourceAttributes['k8s.namespace.name'] = 'otel-test' FORMAT JSONEachRow")
    for line in text.splitlines():
        r = json.loads(line)
        out.setdefault(r["pod"], {}).setdefault(int(r["count"] or 0), []).append(
            (r["Body"], r["stream"], r["SeverityText"], r["truncated"]))
    return out


def compare(ep, corpora):
    """(wrong rows, details): every expected row present once, whole, with its stream and severity."""
    got = stored(ep)
    wrong, details = 0, []
    for c in corpora:
        rows = got.get(c.pod, {})
        for count, (body, stream, sev) in c.expected.items():
            have = rows.get(count, [])
            if have != [(body, stream, sev, "")]:
                wrong += 1
                if len(details) < 5:
                    details.append(f"{c.pod} #{count}: want ({len(body)}-byte body, {stream}, {sev}), got "
                                   + str([(len(b), b[:40], s, v, t) for b, s, v, t in have]))
        for count in set(rows) - set(c.expected):
            wrong += len(rows[count])
            if len(details) < 5:
                details.append(f"{c.pod}: unexpected rows {[(b[:60], s, v) for b, s, v, t in rows[count]]}")
    return wrong, details


def all_right(ep, corpora):
    wrong, details = compare(ep, corpora)
    return True if wrong == 0 else f"{wrong} rows wrong: {details}"


def total_expected(corpora):
    return sum(len(c.expected) for c in corpora)


def row_count(ep):
    return int(ep.rows("SELECT count() FROM otel_logs WHERE ResourceAttributes['k8s.namespace.name'] = "
                       "'otel-test'")[0][0])


def shipper_for(args, work, logs, ep, extra=None):
    return Shipper(args.shipper, work, ep.url, [os.path.join(logs, "*.log")], extra=extra)


def corpus_lines(c):
    """A file's content: plain lines, groups, a 200 KiB line in parts, more groups."""
    lines = [c.plain("stdout"), c.plain("stderr")]
    for i in range(6 if c.fmt == "docker" else 10):
        lines += c.group()
        if i % 2:
            lines.append(c.plain(c.rnd.choice(["stdout", "stderr"])))
    lines += c.group(long_len=200 * 1024)
    for _ in range(2):
        lines += c.group()
    lines.append(c.plain("stdout"))
    return lines


def whole(args):
    """A docker and a CRI file of interleaved groups, shipped at once: every row right."""
    seed = int(os.environ.get("SHIPPER_TEST_SEED", time.time()))
    rnd = random.Random(seed)
    log(f"seed {seed}")
    work, logs, ep = setup(args, "interleave")
    corpora = [Corpus(logs, "il-docker", "docker", rnd), Corpus(logs, "il-cri", "cri", rnd)]
    for c in corpora:
        c.write(corpus_lines(c))
        c.close()
    sh = shipper_for(args, work, logs, ep)
    sh.start()
    try:
        wait_for(lambda: row_count(ep) >= total_expected(corpora) or row_count(ep), 120, "the rows")
        time.sleep(1)  # anything more that would come
        wait_for(lambda: all_right(ep, corpora), 30, "every row whole, with its stream and severity")
        for c in corpora:
            log(f"{c.fmt}: {c.groups} groups, {c.between} lines between parts, {len(c.expected)} rows right")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def sigkill(args):
    """SIGKILL in the middle of a group (the other stream's lines read, the group not complete), then a
    restart; then SIGKILLs at random points while groups are written, with small batches: every row once."""
    seed = int(os.environ.get("SHIPPER_TEST_SEED", time.time()))
    rnd = random.Random(seed)
    log(f"seed {seed}")
    work, logs, ep = setup(args, "interleave-kill")
    corpora = [Corpus(logs, "ilk-docker", "docker", rnd), Corpus(logs, "ilk-cri", "cri", rnd)]
    sh = shipper_for(args, work, logs, ep, extra=["--batch-rows", "7"])
    try:
        # 1. Complete groups, shipped; then half a group in each file.
        before = {}
        for c in corpora:
            c.write([c.plain("stdout")] + c.group() + c.group())
            before[c.pod] = dict(c.expected)
        sh.start()
        wait_for(lambda: all_right(ep, corpora), 60, "the first groups")
        halves = {}
        for c in corpora:
            lines = c.group(long_len=3 * PART + 100)  # stdout in 4 parts, stderr lines between
            cut = len(lines) - 2  # the last two lines (stdout's last part among them) are kept back
            c.write(lines[:cut])
            halves[c.pod] = lines[cut:]
        size = sum(os.path.getsize(c.path) for c in corpora)
        wait_for(lambda: sh.metrics().get("shipper_bytes_read_total", 0) == size or sh.metrics(), 30,
                 "the half groups read")
        time.sleep(0.5)  # a flush interval and more: anything the shipper would send of them, it has sent
        sh.kill()
        log("killed with SIGKILL in the middle of a group in each file")
        # Nothing of an open group is shipped: those rows are held until the group ends.
        assert row_count(ep) == sum(len(b) for b in before.values()), (row_count(ep), before)
        for c in corpora:
            c.write(halves[c.pod])
        sh.start()
        wait_for(lambda: all_right(ep, corpora), 60, "every row once after the restart")
        log(f"after the restart: {total_expected(corpora)} rows, each once and whole")

        # 2. Random kills while groups are written.
        done = threading.Event()

        def write():
            for i in range(12):
                for c in corpora:
                    lines = c.group(long_len=200 * 1024 if i == 5 else None)
                    # A group written in two steps: a read may end in its middle.
                    k = rnd.randint(1, len(lines))
                    c.write(lines[:k])
                    time.sleep(0.05)
                    c.write(lines[k:] + [c.plain("stderr")])
                time.sleep(0.1)
            done.set()

        t = threading.Thread(target=write)
        t.start()
        kills = 1
        try:
            while kills < 6 or not done.is_set():
                time.sleep(rnd.uniform(0.2, 1.0))
                sh.kill()
                kills += 1
                sh.start()
        finally:
            done.set()
            t.join()
        wait_for(lambda: all_right(ep, corpora), 120, "every row once after the kills")
        log(f"{kills} kills, {total_expected(corpora)} rows "
            f"({sum(c.groups for c in corpora)} groups, {sum(c.between for c in corpora)} lines between parts), "
            "each once, whole, with its stream and severity")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def rotated(args):
    """A stream that ends without its last part (a CRI `P` and a docker entry without `\n` at the end of
    the stream), the other stream's lines after it: those are held. Once the file is rotated and quiet for
    rotate-wait, the part is shipped as it is (marked truncated) and the held lines whole."""
    rnd = random.Random(int(os.environ.get("SHIPPER_TEST_SEED", time.time())))
    work, logs, ep = setup(args, "interleave-rotated")
    corpora = [Corpus(logs, "ilr-docker", "docker", rnd), Corpus(logs, "ilr-cri", "cri", rnd)]
    sh = shipper_for(args, work, logs, ep)
    try:
        sh.start()
        dangling = {}
        for c in corpora:
            c.write(c.group() + [c.plain("stdout")])
            before = len(c.expected)
            text = c.message("stdout", 300)
            count = c.count
            cut = text[:120]  # the stream ends here, without its last part
            c.write([c.physical("stdout", cut, False)] + [c.plain("stderr") for _ in range(3)])
            dangling[c.pod] = (count, cut, before)
        wait_for(lambda: row_count(ep) == sum(d[2] for d in dangling.values()) or row_count(ep), 60,
                 "the rows before the part that never ends")
        time.sleep(3)  # more than rotate-wait: the file is not rotated yet, nothing more may come
        assert row_count(ep) == sum(d[2] for d in dangling.values()), "held lines shipped before rotation"
        for c in corpora:
            c.close()
            os.rename(c.path, c.path + ".1")  # no longer matches the glob
        # The part goes as the non-JSON text it is, marked truncated, without severity.
        for c in corpora:
            del c.expected[dangling[c.pod][0]]
        want = total_expected(corpora) + len(corpora)
        wait_for(lambda: row_count(ep) == want or row_count(ep), 60, "the part and the held lines shipped")
        got = stored(ep)
        for c in corpora:
            count, cut, _ = dangling[c.pod]
            assert got[c.pod].get(0) == [(cut, "stdout", "", "true")], got[c.pod].get(0)
        wrong, details = compare(ep, corpora)
        # Only the rows of the parts (no count: not JSON) are not in the corpus' expected rows.
        assert wrong == len(corpora), details
        log(f"rotated: {want} rows, the part that never ended shipped as it is, the lines held after it whole")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


SCENARIOS = {"whole": whole, "sigkill": sigkill, "rotated": rotated}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--shipper", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--schema-dir", required=True)
    p.add_argument("--sanitized", action="store_true")
    p.add_argument("--slow-fsync")
    args = p.parse_args()
    t0 = time.time()
    SCENARIOS[args.scenario](args)
    log(f"{args.scenario}: ok in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
