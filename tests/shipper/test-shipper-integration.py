#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Integration tests: the shipper against the embedded ClickHouse endpoint (the
real engine). Every scenario asserts by querying ClickHouse.

  test-shipper-integration.py SCENARIO --shipper BIN --endpoint BIN --schema-dir DIR [--sanitized]
"""
import argparse
import functools
import os
import random
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from shipper_harness import PASSWORD as INGEST_PASSWORD  # noqa: E402
from shipper_harness import (AckHoldingProxy, Endpoint, LogWriter, Shipper, exactly_once, log,  # noqa: E402
                             make_workdir, docker_line, cri_line, per_pod, wait_for, zap_line)


def http_get(sh, path):
    """(status, body) of a GET of the shipper's HTTP port; (0, why) when it did not answer."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sh.metrics_port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, OSError) as e:
        return 0, str(e)


def setup(args, name, start_endpoint=True):
    work = make_workdir(name)
    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    ep = Endpoint(args.endpoint, args.schema_dir, work)
    if start_endpoint:
        ep.start()
    return work, logs, ep


def shipper_for(args, work, logs, ep, extra=None):
    return Shipper(args.shipper, work, ep.url, [os.path.join(logs, "*.log")], extra=extra)


def many_files(args):
    """100 000 lines from several files (docker and CRI) → every count present exactly once per pod."""
    work, logs, ep = setup(args, "many")
    writers = [LogWriter(logs, f"pod-{i}", fmt="docker" if i % 2 == 0 else "cri") for i in range(5)]
    for w in writers:
        w.write(20000)
    sh = shipper_for(args, work, logs, ep)
    sh.start()
    try:
        wait_for(lambda: exactly_once(ep, {w.pod: w.count for w in writers}), 240, "100 000 rows exactly once")
        m = sh.metrics()
        assert m.get("shipper_rows_sent_total") == 100000, m
        assert m.get("shipper_files_tracked") == 5, m
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def sigkill(args):
    """The shipper killed with SIGKILL at random points (≥ 5 times) while files grow → exactly once."""
    seed = int(os.environ.get("SHIPPER_TEST_SEED", time.time()))
    rnd = random.Random(seed)
    log(f"seed {seed}")
    work, logs, ep = setup(args, "kill")
    writers = [LogWriter(logs, f"kill-{i}", fmt="docker" if i != 1 else "cri") for i in range(3)]
    # Small batches so that kills land between INSERTs and checkpoint writes too.
    sh = shipper_for(args, work, logs, ep, extra=["--batch-rows", "500"])
    done = threading.Event()

    def write():
        for _ in range(150):
            for w in writers:
                w.write(100)
            time.sleep(0.05)
        done.set()

    t = threading.Thread(target=write)
    t.start()
    sh.start()
    kills = 0
    try:
        while kills < 6 or not done.is_set():
            time.sleep(rnd.uniform(0.3, 2.0))
            sh.kill()
            kills += 1
            log(f"killed the shipper ({kills})")
            sh.start()
        t.join()
        wait_for(lambda: exactly_once(ep, {w.pod: w.count for w in writers}), 180, "exactly once after kills")
        log(f"{kills} kills, {sum(w.count for w in writers)} lines, each exactly once")
    finally:
        done.set()
        t.join()
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def outage(args):
    """The endpoint stopped for 30 s mid-stream → the shipper retries, catches up, exactly once."""
    work, logs, ep = setup(args, "outage")
    writers = [LogWriter(logs, f"outage-{i}") for i in range(2)]
    sh = shipper_for(args, work, logs, ep)
    sh.start()
    try:
        for w in writers:
            w.write(5000)
        wait_for(lambda: exactly_once(ep, {w.pod: w.count for w in writers}), 120, "rows before the outage")
        ep.stop()
        log("endpoint stopped")
        t0 = time.time()
        while time.time() - t0 < 30:
            for w in writers:
                w.write(200)
            time.sleep(0.5)
        m = sh.metrics()
        assert m.get("shipper_clickhouse_up") == 0, m
        assert m.get("shipper_batches_retried_total", 0) > 0, m
        ep.start()
        log("endpoint started again")
        for w in writers:
            w.write(5000)
        wait_for(lambda: exactly_once(ep, {w.pod: w.count for w in writers}), 180, "catch-up exactly once")
        assert sh.metrics().get("shipper_clickhouse_up") == 1
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def rotation(args):
    """Rotation by rename+create and by copytruncate while lines are written → exactly once."""
    work, logs, ep = setup(args, "rotate")
    renamed = LogWriter(logs, "rot-rename", fmt="docker")
    copied = LogWriter(logs, "rot-copy", fmt="cri")
    sh = shipper_for(args, work, logs, ep, extra=["--batch-rows", "700"])
    sh.start()
    try:
        for r in range(1, 6):
            for _ in range(20):
                renamed.write(100)
                copied.write(100)
                time.sleep(0.02)
            # rename + create, as kubelet and docker do
            os.rename(renamed.path, f"{renamed.path}.{r}")
            renamed.reopen()
            # copytruncate, as logrotate does (the writer keeps its O_APPEND descriptor)
            shutil.copyfile(copied.path, f"{copied.path}.{r}")
            os.truncate(copied.path, 0)
            log(f"rotation {r}")
        for _ in range(10):
            renamed.write(100)
            copied.write(100)
            time.sleep(0.02)
        want = {renamed.pod: renamed.count, copied.pod: copied.count}
        wait_for(lambda: exactly_once(ep, want), 180, "exactly once across rotations")
        m = sh.metrics()
        assert m.get("shipper_rotations_total", 0) >= 5, m
        assert m.get("shipper_truncations_total", 0) >= 5, m
        # Rotated files are let go once read and acknowledged.
        wait_for(lambda: sh.metrics().get("shipper_files_tracked") == 2 or sh.metrics(), 30, "rotated files released")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def rotate(w, mode, r):
    """One rotation of w's file. rename: as the kubelet does it, the rotated files but the newest are compressed
    first (<name>.<timestamp>.gz), then the file is renamed to <name>.<timestamp> and the runtime reopens its
    path. copytruncate: as logrotate does it (copy, then truncate the file the writer keeps open; the copy and
    the truncation together, so nothing is written in between), older copies compressed as with
    delaycompress."""
    import gzip
    directory, base = os.path.split(w.path)
    for name in sorted(os.listdir(directory)):
        if name.startswith(base + ".") and not name.endswith(".gz"):
            src = os.path.join(directory, name)
            with open(src, "rb") as f, gzip.open(src + ".gz.tmp", "wb") as g:
                shutil.copyfileobj(f, g)
            os.rename(src + ".gz.tmp", src + ".gz")
            os.unlink(src)
    rotated = f"{w.path}.20261207-{r:06d}"
    if mode == "rename":
        os.rename(w.path, rotated)
        w.reopen()
    else:
        shutil.copyfile(w.path, rotated)
        os.truncate(w.path, 0)


def rotation_kills(args, mode, outage):
    """Files rotated (mode: rename or copytruncate) while the shipper is killed with SIGKILL a dozen times,
    several times right after a rotation, and restarted on its checkpoint; with outage, the endpoint is stopped
    for several seconds in the middle, so that rotated files still hold unsent lines across the kills. After
    each restart the shipper must find every file with unsent lines under its new name (or its copy) and read
    it from where it was: every line exactly once."""
    seed = int(os.environ.get("SHIPPER_TEST_SEED", time.time()))
    rnd = random.Random(seed)
    name = f"rotkill-{mode}{'-outage' if outage else ''}"
    log(f"{name}: seed {seed}")
    work, logs, ep = setup(args, name)
    writers = [LogWriter(logs, f"{name}-{i}", fmt="docker" if i == 0 else "cri") for i in range(2)]
    sh = shipper_for(args, work, logs, ep, extra=["--batch-rows", "300"])
    steps, per_step, every = 200, 40, 12
    rotation_steps = set(range(every, steps, every))
    after_rotation = set(rnd.sample(sorted(rotation_steps), 6))
    if outage:
        # One of them certain inside the outage: the file rotated before holds unsent lines, and the one
        # before that was compressed by this rotation while it still held some.
        after_rotation = {96} | set(sorted(after_rotation - {96})[:5])
    others = sorted(rnd.sample(sorted(set(range(5, steps)) - rotation_steps - set(after_rotation)), 6))
    kill_steps = set(after_rotation) | set(others)
    outage_steps = (70, 150) if outage else (None, None)
    kills = rotations = 0

    def restart():
        nonlocal kills
        sh.kill()
        kills += 1
        sh.start()
        # Started means its files are open again: what the kubelet rotates next is held by a descriptor.
        wait_for(lambda: sh.metrics() != {}, 30, "the restarted shipper's /metrics", interval=0.05)

    sh.start()
    wait_for(lambda: sh.metrics() != {}, 30, "/metrics", interval=0.05)
    try:
        for step in range(steps):
            for w in writers:
                w.write(per_step)
            if step in rotation_steps:
                rotations += 1
                for w in writers:
                    rotate(w, mode, rotations)
            if step == outage_steps[0]:
                ep.stop()
                log(f"endpoint stopped at step {step}")
            if step == outage_steps[1]:
                ep.start()
                log(f"endpoint started again at step {step}")
            if step in kill_steps:
                restart()
            time.sleep(0.03)
        want = {w.pod: w.count for w in writers}
        try:
            wait_for(lambda: exactly_once(ep, want), 180, "exactly once across rotations and kills")
        finally:
            got = per_pod(ep)
            missing = sum(n - got.get(pod, (0, 0, 0, 0))[1] for pod, n in want.items())
            dup = sum(v[0] - v[1] for v in got.values())
            log(f"{name}: {kills} kills, {rotations} rotations, {sum(want.values())} lines: "
                f"{missing} missing, {dup} duplicated")
        m = sh.metrics()
        assert m.get("shipper_rotated_lost_files_total") == 0, m
        assert kills >= 10
        with open(sh.log_path, errors="replace") as f:
            found = [line for line in f if ": found again as " in line]
        compressed = sum(".gz, resuming" in line for line in found)
        log(f"{name}: rotated files found again after a restart: {len(found)}, {compressed} of them compressed")
        if outage:
            assert compressed >= 1 and len(found) > compressed, "the kill inside the outage found nothing again"

    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def rotation_kills_rename(args):
    rotation_kills(args, "rename", False)


def rotation_kills_copytruncate(args):
    rotation_kills(args, "copytruncate", False)


def rotation_kills_rename_outage(args):
    rotation_kills(args, "rename", True)


def rotation_kills_copytruncate_outage(args):
    rotation_kills(args, "copytruncate", True)


def rotation_while_down(args):
    """Rotations while the shipper is down (killed) and ClickHouse too, with lines read but not yet sent:
    a file renamed and compressed (read again from the .gz), a file renamed twice (the generation between was
    never seen by the shipper, nor recorded), and a file renamed and deleted: its lost lines are reported
    (metrics and log, with the byte range), the rest arrives exactly once."""
    import gzip
    work, logs, ep = setup(args, "rotdown")
    gone, packed, twice = (LogWriter(logs, f"rotdown-{n}", fmt="cri" if n == "twice" else "docker")
                           for n in ("gone", "packed", "twice"))
    writers = (gone, packed, twice)
    sh = shipper_for(args, work, logs, ep)
    sh.start()
    try:
        for w in writers:
            w.write(1000)
        wait_for(lambda: exactly_once(ep, {w.pod: w.count for w in writers}), 120, "the first lines")
        shipped = os.path.getsize(gone.path)
        ep.stop()
        for w in writers:
            w.write(1000)
        sizes = {w.path: os.path.getsize(w.path) for w in writers}

        def recorded():
            # Read and on record (size seen), nothing more sent: what the kill leaves behind.
            try:
                with open(sh.checkpoint) as f:
                    lines = f.read().splitlines()[1:]
            except FileNotFoundError:
                return False
            seen = {line.rsplit(" ", 1)[-1]: int(line.split(" ")[5]) for line in lines}
            return all(seen.get(p) == n for p, n in sizes.items()) or seen
        wait_for(recorded, 60, "every line read and on record")
        sh.kill()
        log("shipper killed with read, unsent lines; rotating")
        os.rename(gone.path, gone.path + ".1")
        os.unlink(gone.path + ".1")
        gone.reopen()
        gone.write(100)
        os.rename(packed.path, packed.path + ".1")
        with open(packed.path + ".1", "rb") as f, gzip.open(packed.path + ".1.gz", "wb") as g:
            shutil.copyfileobj(f, g)
        os.unlink(packed.path + ".1")
        packed.reopen()
        packed.write(100)
        os.rename(twice.path, twice.path + ".1")
        twice.reopen()
        twice.write(500)
        os.rename(twice.path, twice.path + ".2")
        twice.reopen()
        twice.write(100)
        ep.start()
        sh.start()
        want = {w.pod: (w.count, w.count, 1, w.count) for w in (packed, twice)}
        wait_for(lambda: {p: v for p, v in per_pod(ep).items() if p in want} == want or per_pod(ep), 120,
                 "the compressed and the never seen generations exactly once")

        def gone_rows():
            rows = ep.rows(f"SELECT Count, count() FROM otel_logs WHERE ResourceAttributes['k8s.pod.name'] = "
                           f"'{gone.pod}' GROUP BY Count ORDER BY Count")
            return [(int(c), int(n)) for c, n in rows]
        want = [(c, 1) for c in list(range(1, 1001)) + list(range(2001, 2101))]
        wait_for(lambda: gone_rows() == want or len(gone_rows()), 60, "the deleted file's lines up to the kill")
        m = sh.metrics()
        lost = sizes[gone.path] - shipped
        assert m.get("shipper_rotated_lost_files_total") == 1, m
        assert m.get("shipper_rotated_lost_bytes_total") == lost, (m, lost)
        with open(sh.log_path, errors="replace") as f:
            text = f.read()
        assert f"{gone.path}: deleted before it was read to its end: bytes {shipped}-{sizes[gone.path]}" in text
        log(f"deleted file: {lost} bytes (lines 1001-2000) reported lost; compressed and unrecorded files: "
            "exactly once")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def malformed(args, fmt="JSONEachRow"):
    """Garbage, huge, non-JSON and ClickHouse-refused lines among good ones → the stream continues, refused
    rows are dead-lettered and counted, the rest is shipped. As JSONEachRow, ClickHouse refuses a lone UTF-16
    surrogate: the batch's rows are read again from the file and bisected down to the refused ones. As
    Native, the shipper decodes it to U+FFFD itself and nothing is refused."""
    work, logs, ep = setup(args, "malformed-" + fmt)
    refusing = fmt == "JSONEachRow"
    path = os.path.join(logs, f"bad-pod_otel-test_loggen-{'ab' * 32}.log")
    good = refused = nonjson = 0
    with open(path, "wb") as f:
        for i in range(1, 3001):
            ts = time.time()
            good += 1
            f.write(docker_line(zap_line(good, ts, "bad-pod"), ts).encode())
            if i % 300 == 0:
                # A lone UTF-16 surrogate: valid JSON, but ClickHouse refuses the row.
                refused += 1
                f.write(cri_line('{"level":"info","msg":"refused","bad":"\\ud800x"}', ts).encode())
            if i % 250 == 0:
                nonjson += 1
                f.write(cri_line(f"not json {i}", ts)[:-1].encode() + b" \x01\xff\xfe garbage\n")
            if i % 1000 == 0:
                f.write(b"\x00\x01\x02\x03 binary \xde\xad\xbe\xef\n")
                f.write(b"\n")
                f.write(cri_line('{"level":"info","msg":"huge","blob":"' + "y" * 400000 + '"}', ts).encode())
    sh = shipper_for(args, work, logs, ep, extra=["--batch-rows", "1000", "--insert-format", fmt])
    sh.start()
    try:
        def check():
            rows = ep.rows("SELECT count(), uniqExact(Count), min(Count), max(Count) FROM otel_logs "
                           "WHERE Body = 'tick' AND ResourceAttributes['k8s.pod.name'] = 'bad-pod'")
            return rows == [[str(good), str(good), "1", str(good)]] or rows
        wait_for(check, 120, "good rows exactly once")
        dead = refused if refusing else 0
        wait_for(lambda: sh.metrics().get("shipper_rows_dead_lettered_total") == dead or sh.metrics(), 60,
                 "dead-letter counter")
        with open(sh.dead_letter) as f:
            dl = f.read().splitlines()
        assert len(dl) == dead, f"{len(dl)} dead-lettered lines, want {dead}"
        assert all('"refused"' in line for line in dl), dl[:2]
        if not refusing:
            n = ep.rows("SELECT count() FROM otel_logs WHERE Body = 'refused' AND LogAttributes['bad'] = "
                        "'\\xEF\\xBF\\xBDx'")[0][0]
            assert int(n) == refused, f"{n} rows with U+FFFD, want {refused}"
        n = ep.rows("SELECT count() FROM otel_logs WHERE Body LIKE 'not json %'")[0][0]
        assert int(n) == nonjson, f"{n} non-JSON rows, want {nonjson}"
        n = ep.rows("SELECT count() FROM otel_logs WHERE LogAttributes['log.truncated'] = 'true'")[0][0]
        assert int(n) == 3, f"{n} truncated rows, want 3"
        m = sh.metrics()
        assert m.get("shipper_lines_truncated_total") == 3, m
        assert m.get("shipper_rows_non_json_total") >= nonjson + 3 + 3, m
        assert sh.alive()
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)



def malformed_native(args):
    malformed(args, "Native")


def memory(args):
    """While ClickHouse is down, reading pauses (the files are the buffer) and RSS stays bounded; afterwards
    everything arrives exactly once."""
    bound_kb = (512 if args.sanitized else 48) * 1024
    work, logs, ep = setup(args, "memory", start_endpoint=False)
    writers = [LogWriter(logs, f"mem-{i}") for i in range(4)]
    for w in writers:
        w.write(60000)
    total = sum(os.path.getsize(w.path) for w in writers)
    # Batches hold their rows compressed, so buffer-bytes is seldom what stops reading: each file's queue is
    # (max-inflight-per-file + 1 sealed batches). With 5 000-row batches that is a quarter of the lines.
    sh = shipper_for(args, work, logs, ep, extra=["--buffer-bytes", "8M", "--batch-rows", "5000"])
    sh.start()
    peak = 0
    try:
        t0 = time.time()
        while time.time() - t0 < 10:
            peak = max(peak, sh.rss_kb())
            time.sleep(0.1)
        m = sh.metrics()
        log(f"endpoint down: peak RSS {peak} kB, read {m.get('shipper_bytes_read_total')} of {total} bytes")
        assert peak < bound_kb, f"peak RSS {peak} kB >= {bound_kb} kB"
        assert m.get("shipper_bytes_read_total", 0) < total / 2, m
        assert m.get("shipper_files_paused", 0) >= 1, m
        ep.start()
        wait_for(lambda: exactly_once(ep, {w.pod: w.count for w in writers}), 240, "all rows after the outage")
        peak = max(peak, sh.rss_kb())
        log(f"peak RSS {peak} kB")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def cli(args):
    """Command line, environment and YAML errors name the setting; /health, /metrics, 404; SIGTERM → exit 0."""
    import subprocess
    import urllib.error
    import urllib.request
    work = make_workdir("cli")

    def run(argv, env=None, prefix=()):
        p = subprocess.run(list(prefix) + [args.shipper] + argv, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, **(env or {})))
        return p.returncode, p.stdout + p.stderr

    rc, out = run(["--help"])
    assert rc == 0 and "--paths" in out and "SHIPPER_CLICKHOUSE_URL" in out, out
    rc, out = run(["--batch-rows", "many"])
    assert rc == 2 and "--batch-rows" in out, (rc, out)
    rc, out = run([], env={"SHIPPER_COMPRESSION": "lz4"})
    assert rc == 2 and "SHIPPER_COMPRESSION" in out and "none, gzip, zstd" in out, (rc, out)
    cfg = os.path.join(work, "shipper.yaml")
    with open(cfg, "w") as f:
        f.write("paths:\n  - /tmp/x/*.log\nbatch-rowz: 5\n")
    rc, out = run(["--config", cfg])
    assert rc == 2 and f"{cfg}:3: unknown key \"batch-rowz\"" in out, (rc, out)
    with open(cfg, "w") as f:
        f.write("flush-interval: soon\n")
    rc, out = run(["--config", cfg])
    assert rc == 2 and f"{cfg}:1: flush-interval" in out, (rc, out)
    with open(cfg, "w") as f:
        f.write("batch-rows: 5\ntable: t\nbatch-rows: 6\n")
    rc, out = run(["--config", cfg])
    assert rc == 2 and f"{cfg}:3: duplicate key \"batch-rows\" (first at line 1)" in out, (rc, out)
    # The ClickHouse URL is read by libcurl's URL parser: http or https with a host, from flags, environment
    # and the file alike.
    for url in ("notaurl", "ftp://ch.example/", "http://", "file:///etc/passwd", "http//127.0.0.1:8123", ""):
        rc, out = run(["--clickhouse-url", url])
        assert rc == 2 and f'invalid value "{url}" for --clickhouse-url' in out and "http://" in out, (url, rc, out)
    rc, out = run([], env={"SHIPPER_CLICKHOUSE_URL": "ftp://ch.example/"})
    assert rc == 2 and "SHIPPER_CLICKHOUSE_URL" in out, (rc, out)
    with open(cfg, "w") as f:
        f.write("clickhouse-url: notaurl\n")
    rc, out = run(["--config", cfg])
    assert rc == 2 and f"{cfg}:1: clickhouse-url" in out, (rc, out)

    # Files it cannot write are found at start (exit 2, the setting and the reason named), not after.
    def files(ckpt, dlq=os.path.join(work, "dead-letter.jsonl"), prefix=()):
        return run(["--paths", os.path.join(work, "none", "*.log"), "--checkpoint-file", ckpt,
                                   "--dead-letter-file", dlq, "--listen-address", "127.0.0.1",
                                   "--listen-port", "0"], prefix=prefix)
    missing = os.path.join(work, "missing")
    rc, out = files(os.path.join(missing, "checkpoints"))
    assert rc == 2 and f"--checkpoint-file {missing}/checkpoints: directory {missing}: No such file or directory" in out, (rc, out)
    rc, out = files(os.path.join(cfg, "checkpoints"))
    assert rc == 2 and f"--checkpoint-file {cfg}/checkpoints: directory {cfg}: Not a directory" in out, (rc, out)
    rc, out = files(work)
    assert rc == 2 and f"--checkpoint-file {work}: not a regular file" in out, (rc, out)
    rc, out = files(os.path.join(work, "checkpoints"), os.path.join(missing, "dead-letter.jsonl"))
    assert rc == 2 and f"--dead-letter-file {missing}/dead-letter.jsonl: directory {missing}: No such file or directory" in out, (rc, out)
    # A directory without write permission (root has it everywhere: then the shipper runs as nobody).
    ro = os.path.join(work, "read-only")
    os.mkdir(ro)
    os.chmod(work, 0o755)
    os.chmod(ro, 0o555)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] if os.geteuid() == 0 else []
    rc, out = files(os.path.join(ro, "checkpoints"), prefix=as_nobody)
    assert rc == 2 and f"--checkpoint-file {ro}/checkpoints: directory {ro}: Permission denied" in out, (rc, out)
    rc, out = files("/tmp/shipper-cli-checkpoints-" + str(os.getpid()), os.path.join(ro, "dl.jsonl"), prefix=as_nobody)
    assert rc == 2 and f"--dead-letter-file {ro}/dl.jsonl: directory {ro}: Permission denied" in out, (rc, out)
    assert os.listdir(ro) == [], os.listdir(ro)
    # The password file is read at start: missing or empty is exit 2 naming it.
    rc, out = run(["--password-file", os.path.join(missing, "pw")])
    assert rc == 2 and f"--password-file {missing}/pw: No such file or directory" in out, (rc, out)
    empty = os.path.join(work, "empty-password")
    with open(empty, "w") as f:
        f.write("\n")
    rc, out = run(["--password-file", empty])
    assert rc == 2 and f"--password-file {empty}: no password in its first line" in out, (rc, out)

    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    closed = Endpoint(args.endpoint, args.schema_dir, work)  # never started: nothing listens there
    sh = shipper_for(args, work, logs, closed)
    sh.start()
    try:
        base = f"http://127.0.0.1:{sh.metrics_port}"
        wait_for(lambda: sh.metrics() != {}, 30, "/metrics")
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            assert r.status == 200 and r.read() == b"ok\n"
        m = sh.metrics()
        assert m.get("shipper_files_tracked") == 0 and "shipper_rows_sent_total" in m, m
        try:
            urllib.request.urlopen(base + "/nope", timeout=5)
            raise AssertionError("/nope answered")
        except urllib.error.HTTPError as e:
            assert e.code == 404, e.code
        # A file appears while ClickHouse is unreachable: it is tracked, nothing is lost or sent.
        w = LogWriter(logs, "cli-pod")
        w.write(10)
        wait_for(lambda: sh.metrics().get("shipper_files_tracked") == 1 or sh.metrics(), 30, "new file tracked")
        wait_for(lambda: sh.metrics().get("shipper_batches_retried_total", 0) > 0 or sh.metrics(), 30, "retries")
        assert sh.metrics().get("shipper_rows_sent_total") == 0
    finally:
        sh.stop()
    shutil.rmtree(work)


def unacknowledged(args):
    """Kills under load, made deterministic. ClickHouse stores INSERTs whose acknowledgements never reach the
    shipper (a proxy withholds them), and the shipper is killed. The next run must send the same batches again
    (same ranges, same tokens: ClickHouse drops the repeats); its checkpoint writes are slow (fsync delayed,
    as on a loaded machine) and it is killed right after the first one. A third run, configured with other
    batch boundaries, gets its acknowledgements: the ranges recorded before the first kill must have survived
    the second run's checkpoint, or rows stored without an acknowledgement are stored again under new
    tokens. Every line exactly once."""
    if not args.slow_fsync:
        raise SystemExit("unacknowledged needs --slow-fsync")
    work, logs, ep = setup(args, "unacked")
    proxy = AckHoldingProxy(ep.port)
    proxy.hold.set()
    writers = [LogWriter(logs, f"unacked-{i}", fmt="docker" if i != 1 else "cri") for i in range(3)]
    for w in writers:
        w.write(3000)

    def shipper(batch_rows, env=None):
        return Shipper(args.shipper, work, proxy.url, [os.path.join(logs, "*.log")],
                       extra=["--batch-rows", str(batch_rows), "--request-timeout", "60s"], env=env)

    def stored():
        return int(ep.rows("SELECT count() FROM otel_logs")[0][0])

    sh = shipper(500)
    try:
        sh.start()
        wait_for(lambda: proxy.requests >= 4 or proxy.requests, 60, "the first INSERTs stored")
        sh.kill()
        first = stored()
        log(f"run 1: {proxy.requests} INSERTs stored ({first} rows), none acknowledged; killed")
        sh = shipper(500, env={"LD_PRELOAD": args.slow_fsync, "SLOW_FSYNC_MS": "1500"})
        sh.start()
        wait_for(lambda: sh.metrics().get("shipper_checkpoint_writes_total", 0) >= 1, 60, "a checkpoint written")
        sh.kill()
        log("run 2: killed right after its first checkpoint write")
        proxy.hold.clear()
        sh = shipper(700)
        sh.start()
        wait_for(lambda: exactly_once(ep, {w.pod: w.count for w in writers}), 120, "exactly once")
        log(f"run 3 (batches of 700 rows): {sum(w.count for w in writers)} lines, each exactly once")
    finally:
        sh.stop()
        proxy.close()
        ep.stop()
    shutil.rmtree(work)

def health(args):
    """What retrying alone does not mend is on /health (503 and the reason), /metrics and once in the log, and
    it mends by itself: the checkpoint directory removed under the running shipper (nothing may be sent: no
    range on disk), then made again; a password ClickHouse refuses (the rows are kept), then the right one
    (a restart). /live answers ok all along. Every line exactly once."""
    work, logs, ep = setup(args, "health")
    state = os.path.join(work, "state")
    os.makedirs(state)
    ckpt = os.path.join(state, "checkpoints")
    w = LogWriter(logs, "health-pod")

    def shipper(password):
        sh = shipper_for(args, work, logs, ep)
        sh.args[sh.args.index("--checkpoint-file") + 1] = ckpt
        sh.args[sh.args.index("--password") + 1] = password
        return sh

    get = http_get

    def stored():
        return int(ep.rows("SELECT count() FROM otel_logs")[0][0])

    def log_lines(sh, text):
        return open(sh.log_path, errors="replace").read().count(text)

    sh = shipper(INGEST_PASSWORD)
    sh.start()
    try:
        w.write(100)
        wait_for(lambda: exactly_once(ep, {w.pod: w.count}), 120, "100 rows")
        assert get(sh, "/health") == (200, "ok\n")
        m = sh.metrics()
        assert m["shipper_healthy"] == 1 and m["shipper_checkpoint_failing"] == 0, m

        # The directory goes away: the next checkpoint write fails, and nothing read since is sent.
        shutil.rmtree(state)
        w.write(100)
        want = f"degraded: checkpoint file {ckpt} cannot be written (No such file or directory), nothing is sent\n"
        wait_for(lambda: get(sh, "/health") == (503, want) or get(sh, "/health"), 60, "/health 503")
        m = sh.metrics()
        assert m["shipper_checkpoint_failing"] == 1 and m["shipper_healthy"] == 0, m
        wait_for(lambda: sh.metrics().get("shipper_checkpoint_write_failures_total", 0) >= 3 or sh.metrics(), 30,
                 "retries")
        assert stored() == 100, stored()
        assert get(sh, "/live") == (200, "ok\n")
        # Said once, not once a retry.
        assert log_lines(sh, f"Failed to write checkpoint file {ckpt}") == 1, open(sh.log_path).read()[-2000:]

        # Back: healthy again by itself, and what was held back arrives.
        os.makedirs(state)
        wait_for(lambda: get(sh, "/health") == (200, "ok\n") or get(sh, "/health"), 60, "/health ok again")
        wait_for(lambda: exactly_once(ep, {w.pod: w.count}), 120, "200 rows")
        m = sh.metrics()
        assert m["shipper_checkpoint_failing"] == 0 and m["shipper_healthy"] == 1, m
        assert log_lines(sh, f"Checkpoint file {ckpt} written again") == 1
        sh.stop()

        # A password ClickHouse refuses: kept and retried, named on /health and in the metrics.
        sh = shipper("not-the-password")
        sh.start()
        w.write(100)
        want = ("degraded: ClickHouse refused the password of user otel_ingest (HTTP 403, code 516), "
                "rows are kept and retried\n")
        wait_for(lambda: get(sh, "/health") == (503, want) or get(sh, "/health"), 60, "/health 503")
        m = sh.metrics()
        assert m["shipper_clickhouse_auth_refused"] == 1 and m["shipper_healthy"] == 0, m
        wait_for(lambda: sh.metrics().get("shipper_clickhouse_auth_failures_total", 0) >= 3 or sh.metrics(), 60,
                 "retries")
        assert stored() == 200, stored()
        assert get(sh, "/live") == (200, "ok\n")
        assert log_lines(sh, "ClickHouse refused the password of user otel_ingest") == 1
        sh.stop()

        # The right password (a restart): every line once, healthy.
        sh = shipper(INGEST_PASSWORD)
        sh.start()
        wait_for(lambda: exactly_once(ep, {w.pod: w.count}), 120, "300 rows")
        assert get(sh, "/health") == (200, "ok\n")
        m = sh.metrics()
        assert m["shipper_clickhouse_auth_refused"] == 0 and m["shipper_healthy"] == 1, m
        log(f"health: {w.count} lines, each exactly once, through a removed checkpoint directory and a refused password")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def password_file(args):
    """--password-file: ClickHouse refuses the password the file holds (kept, retried, 503); the file is
    replaced as the kubelet replaces a mounted Secret (a new file renamed over it), and the same process sends
    the new password at its next retry: healthy again, every line exactly once, no restart."""
    work, logs, ep = setup(args, "password-file")
    pw = os.path.join(work, "password")
    with open(pw, "w") as f:
        f.write("not-the-password\n")
    sh = shipper_for(args, work, logs, ep, extra=["--password-file", pw])
    w = LogWriter(logs, "pwfile-pod")

    get = functools.partial(http_get, sh)

    sh.start()
    try:
        w.write(100)
        want = ("degraded: ClickHouse refused the password of user otel_ingest (HTTP 403, code 516), "
                "rows are kept and retried\n")
        wait_for(lambda: get("/health") == (503, want) or get("/health"), 60, "/health 503")
        assert int(ep.rows("SELECT count() FROM otel_logs")[0][0]) == 0
        pid = sh.proc.pid
        with open(pw + ".new", "w") as f:
            f.write(INGEST_PASSWORD + "\n")
        os.rename(pw + ".new", pw)
        wait_for(lambda: exactly_once(ep, {w.pod: w.count}), 120, "100 rows")
        wait_for(lambda: get("/health") == (200, "ok\n") or get("/health"), 30, "/health ok")
        assert sh.alive() and sh.proc.pid == pid
        m = sh.metrics()
        assert m["shipper_clickhouse_auth_refused"] == 0 and m["shipper_clickhouse_auth_failures_total"] >= 1, m
        text = open(sh.log_path, errors="replace").read()
        assert text.count(f"{pw} holds another password") == 1, text[-2000:]
        assert INGEST_PASSWORD not in text and "not-the-password" not in text
        w.write(50)
        wait_for(lambda: exactly_once(ep, {w.pod: w.count}), 120, "150 rows")
        log(f"password_file: {w.count} lines exactly once, the password changed under the running shipper")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


def health_permissions(args):
    """The checkpoint directory made read-only (chmod 0555) under the running shipper, then writable again:
    /health 503 naming it and the metric while it lasts, ok again by itself, every line exactly once. Root
    writes anywhere, so under root the shipper runs as nobody (setpriv) with the directory its own."""
    work, logs, ep = setup(args, "health-perm")
    os.chmod(work, 0o755)
    state = os.path.join(work, "state")
    os.makedirs(state)
    ckpt = os.path.join(state, "checkpoints")
    w = LogWriter(logs, "perm-pod")
    sh = shipper_for(args, work, logs, ep)
    sh.args[sh.args.index("--checkpoint-file") + 1] = ckpt
    sh.args[sh.args.index("--dead-letter-file") + 1] = os.path.join(state, "dead-letter.jsonl")
    if os.geteuid() == 0:
        os.chown(state, 65534, 65534)
        sh.args = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + sh.args

    get = functools.partial(http_get, sh)

    sh.start()
    try:
        w.write(50)
        wait_for(lambda: exactly_once(ep, {w.pod: w.count}), 120, "50 rows")
        assert get("/health") == (200, "ok\n")
        os.chmod(state, 0o555)
        w.write(50)
        want = f"degraded: checkpoint file {ckpt} cannot be written (Permission denied), nothing is sent\n"
        wait_for(lambda: get("/health") == (503, want) or get("/health"), 60, "/health 503")
        m = sh.metrics()
        assert m["shipper_checkpoint_failing"] == 1 and m["shipper_checkpoint_write_failures_total"] >= 1, m
        assert int(ep.rows("SELECT count() FROM otel_logs")[0][0]) == 50
        os.chmod(state, 0o755)
        wait_for(lambda: get("/health") == (200, "ok\n") or get("/health"), 60, "/health ok again")
        wait_for(lambda: exactly_once(ep, {w.pod: w.count}), 120, "100 rows")
        assert sh.metrics()["shipper_checkpoint_failing"] == 0
        log(f"health_permissions: {w.count} lines exactly once through a read-only checkpoint directory")
    finally:
        sh.stop()
        ep.stop()
    shutil.rmtree(work)


SCENARIOS = {f.__name__: f for f in (many_files, sigkill, unacknowledged, outage, rotation, rotation_kills_rename,
                                      rotation_kills_copytruncate, rotation_kills_rename_outage,
                                      rotation_kills_copytruncate_outage, rotation_while_down, malformed,
                                      malformed_native, memory, cli, health, health_permissions,
                                      password_file)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--shipper", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--schema-dir", required=True)
    p.add_argument("--sanitized", action="store_true")
    p.add_argument("--slow-fsync", help="LD_PRELOAD library making fsync() slow (SLOW_FSYNC_MS)")
    args = p.parse_args()
    t0 = time.time()
    SCENARIOS[args.scenario](args)
    log(f"{args.scenario}: ok in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
