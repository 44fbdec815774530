#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The parts of clickhouse-server's HTTP interface that the official clients and browsers rely on: CORS and
preflights, multipart forms, progress and summary headers, client_protocol_version with Native blocks,
ClickHouse's compressed framing both ways (compress=1, decompress=1), HTTP response compression, sessions,
and refusals of what the endpoint cannot do. The official clients themselves run in tests/clients."""
import gzip
import json
import os
import struct
import subprocess
import sys
import unittest
import uuid
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from endpoint import Endpoint  # noqa: E402

REVISION = 54460  # what clickhouse-go sends


def frames_none(data, block=1000):
    """ClickHouse's framing with method none (0x02) and a zero checksum: only usable with checksums off."""
    out = b""
    for i in range(0, len(data), block):
        chunk = data[i:i + block]
        out += b"\0" * 16 + struct.pack("<BII", 0x02, len(chunk) + 9, len(chunk)) + chunk
    return out


def parse_frames(body):
    """Splits a framed body into (method, size_compressed, size_raw) per block; checks the lengths add up."""
    blocks, pos = [], 0
    while pos < len(body):
        method, comp, raw = struct.unpack_from("<BII", body, pos + 16)
        blocks.append((method, comp, raw))
        pos += 16 + comp
    assert pos == len(body), "framing does not add up"
    return blocks


class CompatTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(schema=False).start()
        cls.ep.ok("CREATE TABLE t (n UInt64, s String, m Map(LowCardinality(String), String), "
                  "o Nullable(Int32), a Array(String), lc LowCardinality(String)) "
                  "ENGINE = MergeTree ORDER BY n")
        cls.ep.ok("CREATE TABLE lines (s String) ENGINE = MergeTree ORDER BY tuple()")

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def setUp(self):
        self.ep.ok("TRUNCATE TABLE t")
        self.ep.ok("TRUNCATE TABLE lines")

    # --- CORS ------------------------------------------------------------------------------------------

    def test_cors_headers_on_every_answer_to_a_browser(self):
        """As the server configured with its documented http_options_response block: any request with an
        Origin gets the CORS headers (add_http_cors_header=1 or not), errors and auth failures included."""
        for params in ({"add_http_cors_header": "1"}, {}, {"add_http_cors_header": "0"}):
            r = self.ep.query("SELECT 1", headers={"Origin": "http://example.test"}, params=params)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers.get("access-control-allow-origin"), "*", params)
            self.assertIn("X-ClickHouse-Summary", r.headers.get("access-control-expose-headers", ""))
        r = self.ep.query("SELECT nope", headers={"Origin": "http://example.test"})
        self.assertEqual(r.exception_code, 47, r)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "*")
        r = self.ep.query("SELECT 1", headers={"Origin": "http://example.test"}, auth=("default", "wrong"))
        self.assertEqual(r.exception_code, 516, r)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "*")

    def test_no_cors_headers_without_origin(self):
        r = self.ep.query("SELECT 1", params={"add_http_cors_header": "1"})
        self.assertNotIn("access-control-allow-origin", r.headers)

    def test_preflight(self):
        r = self.ep.request("OPTIONS", "/?add_http_cors_header=1", auth=None, headers={
            "Origin": "http://example.test", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-hyperdx-connection-id, content-type"})
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "*")
        allowed = r.headers.get("access-control-allow-headers", "").lower()
        for h in ("x-hyperdx-connection-id", "content-type", "authorization", "x-clickhouse-user"):
            self.assertIn(h, allowed)
        self.assertIn("POST", r.headers.get("access-control-allow-methods", ""))
        self.assertEqual(r.body, b"")

    # --- multipart forms ---------------------------------------------------------------------------------

    def multipart(self, fields, files=(), params=None):
        boundary = "----b" + uuid.uuid4().hex
        body = b""
        for name, value in fields:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").encode()
            body += value.encode() + b"\r\n"
        for name, value in files:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n").encode() + value + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        return self.ep.request("POST", "/", body=body, params=params,
                               headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def test_multipart_query_and_parameters(self):
        # Values are in the escaped format, as in the URL: a client escapes tabs, newlines and backslashes.
        long = "x" * 10000 + "' \\t end"
        r = self.multipart([("query", "SELECT length({p:String}), {p:String} = {q:String} FORMAT JSONEachRow"),
                            ("param_p", long), ("param_q", long)])
        self.assertEqual(r.status, 200, r)
        row = json.loads(r.text)
        self.assertEqual(list(row.values()), [len(long) - 1, 1])  # "\\t" is one tab
        # The query may also sit in the URL, the parameters in the form.
        r = self.multipart([("param_n", "41")], params={"query": "SELECT {n:UInt8} + 1"})
        self.assertEqual(r.text, "42\n", r)

    def test_multipart_file_parts_are_refused(self):
        r = self.multipart([("query", "SELECT * FROM ext")], files=[("ext", b"1\n2\n")],
                           params={"ext_structure": "x UInt8"})
        self.assertEqual(r.status, 501, r)
        self.assertEqual(r.exception_code, 48)
        self.assertIn("External tables", r.text)

    def test_multipart_broken(self):
        r = self.ep.request("POST", "/", body=b"--x\r\nno end",
                            headers={"Content-Type": "multipart/form-data; boundary=x"})
        self.assertEqual(r.exception_code, 36, r)

    # --- headers -----------------------------------------------------------------------------------------

    def test_progress_summary_and_friends(self):
        self.ep.ok("INSERT INTO lines SELECT toString(number) FROM numbers(1000)")
        r = self.ep.query("SELECT sum(toUInt64(s)) FROM lines FORMAT JSONCompact",
                          params={"send_progress_in_http_headers": "1", "query_id": "q-progress-1"})
        self.assertEqual(r.status, 200, r)
        progress = json.loads(r.headers["x-clickhouse-progress"])
        summary = json.loads(r.headers["x-clickhouse-summary"])
        self.assertEqual(progress, summary)
        self.assertEqual(summary["read_rows"], "1000")
        self.assertEqual(r.headers["x-clickhouse-query-id"], "q-progress-1")
        self.assertEqual(r.headers["x-clickhouse-format"], "JSONCompact")  # from the FORMAT clause
        self.assertTrue(r.headers["content-type"].startswith("application/json"))
        self.assertEqual(r.headers["x-clickhouse-timezone"], "UTC")
        r = self.ep.query("SELECT 1")
        self.assertNotIn("x-clickhouse-progress", r.headers)
        # The query id and the format may come as headers as well.
        r = self.ep.query("SELECT 1", headers={"X-ClickHouse-Query-Id": "q-h", "X-ClickHouse-Format": "CSV"})
        self.assertEqual((r.headers["x-clickhouse-query-id"], r.headers["x-clickhouse-format"]), ("q-h", "CSV"))

    def test_database_header(self):
        r = self.ep.query("SELECT currentDatabase()", headers={"X-ClickHouse-Database": "system"})
        self.assertEqual(r.text, "system\n", r)

    def test_response_headers_setting(self):
        r = self.ep.query("SELECT 1", params={"http_response_headers": "{'Cache-Control':'no-store', 'X-A':'b'}"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("cache-control"), "no-store")
        self.assertEqual(r.headers.get("x-a"), "b")
        r = self.ep.query("SELECT 1", params={"http_response_headers": "{'Content-Length':'5'}"})
        self.assertEqual(r.exception_code, 36, r)

    def test_http_response_compression(self):
        for enc, decode in (("gzip", gzip.decompress), ("deflate", zlib.decompress)):
            r = self.ep.query("SELECT number FROM numbers(5000)", params={"enable_http_compression": "1"},
                              headers={"Accept-Encoding": enc})
            self.assertEqual(r.headers.get("content-encoding"), enc)
            self.assertEqual(decode(r.body).decode(), "".join(f"{i}\n" for i in range(5000)))
        r = self.ep.query("SELECT 1", params={"enable_http_compression": "1"},
                          headers={"Accept-Encoding": "zstd, gzip"})
        self.assertEqual(r.headers.get("content-encoding"), "zstd")
        out = subprocess.run(["zstd", "-d", "-q", "-c"], input=r.body, stdout=subprocess.PIPE, check=True).stdout
        self.assertEqual(out, b"1\n")
        r = self.ep.query("SELECT number FROM numbers(5000)", params={"enable_http_compression": "1"},
                          headers={"Accept-Encoding": "lz4"})
        self.assertEqual(r.headers.get("content-encoding"), "lz4")
        out = subprocess.run(["lz4", "-d", "-c"], input=r.body, stdout=subprocess.PIPE, check=True).stdout
        self.assertEqual(out.decode(), "".join(f"{i}\n" for i in range(5000)))
        # Without the setting, or for an encoding not written here, the answer is plain.
        r = self.ep.query("SELECT 1", headers={"Accept-Encoding": "gzip"})
        self.assertNotIn("content-encoding", r.headers)
        self.assertEqual(r.body, b"1\n")
        r = self.ep.query("SELECT 1", params={"enable_http_compression": "1"}, headers={"Accept-Encoding": "br"})
        self.assertNotIn("content-encoding", r.headers)
        self.assertEqual(r.body, b"1\n")

    # --- Native and client_protocol_version -------------------------------------------------------------

    NATIVE_QUERY = ("SELECT number AS n, toString(number) AS s, map('k', toString(number)) AS m, "
                    "if(number % 2 = 0, NULL, toInt32(number)) AS o, [toString(number), 'x'] AS a, "
                    "toLowCardinality(toString(number % 3)) AS lc FROM numbers(1000) FORMAT Native "
                    "SETTINGS max_block_size = 300")

    def test_native_output_carries_block_info_and_serialization_byte(self):
        plain = self.ep.query(self.NATIVE_QUERY)
        rev = self.ep.query(self.NATIVE_QUERY, params={"client_protocol_version": str(REVISION)})
        self.assertEqual(plain.status, 200, plain)
        self.assertEqual(rev.status, 200, rev)
        self.assertTrue(rev.body.startswith(b"\x01\x00\x02\xff\xff\xff\xff\x00"), rev.body[:16])
        blocks = rev.body.count(b"\x01\x00\x02\xff\xff\xff\xff\x00\x06")
        self.assertGreaterEqual(blocks, 4)  # 1000 rows in blocks of at most 300
        self.assertEqual(len(rev.body), len(plain.body) + blocks * (8 + 6))
        # Revision 0 (or none) is the engine's own Native.
        self.assertEqual(self.ep.query(self.NATIVE_QUERY, params={"client_protocol_version": "0"}).body,
                         plain.body)

    def test_native_insert_ignores_the_revision(self):
        """As on the server, client_protocol_version shapes Native output only: INSERT bodies are revision 0
        (clickhouse-go encodes them so), and a body of another revision is refused, storing nothing."""
        plain = self.ep.query(self.NATIVE_QUERY).body
        r = self.ep.query("INSERT INTO t FORMAT Native", body=plain,
                          params={"client_protocol_version": str(REVISION)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT count(), sum(n), countIf(o IS NULL), sum(length(a)), "
                                        "uniqExact(lc), sum(toUInt64(m['k'])) FROM t"),
                         "1000\t499500\t500\t2000\t3\t499500")
        rev = self.ep.query(self.NATIVE_QUERY, params={"client_protocol_version": str(REVISION)}).body
        r = self.ep.query("INSERT INTO t FORMAT Native", body=rev, params={"client_protocol_version": str(REVISION)})
        self.assertNotEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT count() FROM t"), "1000")

    def test_native_insert_passes_through_every_encoding(self):
        """The shipper's future Native bodies: plain, zstd/gzip Content-Encoding, decompress=1 framing, and
        framing inside gzip, each stored exactly."""
        native = self.ep.query(self.NATIVE_QUERY).body
        framed = self.ep.query(self.NATIVE_QUERY, params={"compress": "1"}).body
        zst = subprocess.run(["zstd", "-q", "-c"], input=native, stdout=subprocess.PIPE, check=True).stdout
        lz4 = subprocess.run(["lz4", "-q", "-c"], input=native, stdout=subprocess.PIPE, check=True).stdout
        lz4_stmt = subprocess.run(["lz4", "-q", "-c"], input=b"INSERT INTO t FORMAT Native\n" + native,
                                  stdout=subprocess.PIPE, check=True).stdout
        cases = [
            ("plain", native, {}, {}),
            ("zstd", zst, {"Content-Encoding": "zstd"}, {}),
            ("gzip", gzip.compress(native), {"Content-Encoding": "gzip"}, {}),
            ("lz4", lz4, {"Content-Encoding": "lz4"}, {}),
            ("lz4, statement in the body", lz4_stmt, {"Content-Encoding": "lz4"}, {}),
            ("statement in the body", b"INSERT INTO t FORMAT Native\n" + native, {}, {}),
            ("framed", framed, {}, {"decompress": "1"}),
            ("framed+gzip", gzip.compress(framed), {"Content-Encoding": "gzip"}, {"decompress": "1"}),
        ]
        for name, body, headers, params in cases:
            self.ep.ok("TRUNCATE TABLE t")
            if "statement" in name:
                r = self.ep.request("POST", "/", body=body, headers=headers, params=params)
            else:
                r = self.ep.query("INSERT INTO t FORMAT Native", body=body, headers=headers, params=params)
            self.assertEqual(r.status, 200, (name, r))
            self.assertEqual(json.loads(r.headers["x-clickhouse-summary"])["written_rows"], "1000", name)
            self.assertEqual(self.ep.scalar("SELECT count(), sum(n), countIf(o IS NULL) FROM t"),
                             "1000\t499500\t500", name)

    def test_statement_with_inline_rows_beyond_max_query_size(self):
        """clickhouse-connect sends "INSERT ... FORMAT Native\n<rows>" as the body; the rows may be far larger
        than the engine's max_query_size (256 KiB) and must all arrive."""
        rows = "".join(f"{i}\tline {i}\n" for i in range(100000)).encode()
        self.assertGreater(len(rows), 1 << 20)
        r = self.ep.request("POST", "/", body=b"INSERT INTO t (n, s) FORMAT TSV\n" + rows)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT count(), sum(n) FROM t"), f"100000\t{sum(range(100000))}")
        # With the statement in the URL and more of it in the body, as the server joins them.
        self.ep.ok("TRUNCATE TABLE t")
        r = self.ep.query("INSERT INTO t (n, s)", body=b"FORMAT TSV\n" + rows)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT count() FROM t"), "100000")
        # Broken rows still fail whole.
        self.ep.ok("TRUNCATE TABLE t")
        r = self.ep.request("POST", "/", body=b"INSERT INTO t (n, s) FORMAT TSV\n" + rows + b"x\ty\n")
        self.assertNotEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT count() FROM t"), "0")

    def test_native_types_not_walked_are_refused(self):
        r = self.ep.query("SELECT 1::Dynamic AS d FORMAT Native",
                          params={"client_protocol_version": str(REVISION)})
        self.assertEqual(r.status, 501, r)
        self.assertEqual(r.exception_code, 48)
        self.assertIn("Dynamic", r.text)

    def test_client_protocol_version_bad_values(self):
        r = self.ep.query("SELECT 1", params={"client_protocol_version": "abc"})
        self.assertEqual(r.exception_code, 72, r)
        r = self.ep.query("SELECT 1", params={"client_protocol_version": "54000"})
        self.assertEqual(r.exception_code, 48, r)

    # --- compressed framing ----------------------------------------------------------------------------

    def test_compress_response_is_lz4_framed(self):
        r = self.ep.query("SELECT toString(number) FROM numbers(300000)", params={"compress": "1"})
        self.assertEqual(r.status, 200, r)
        blocks = parse_frames(r.body)
        self.assertGreater(len(blocks), 1)  # 1 MiB per block
        self.assertTrue(all(m == 0x82 for m, _, _ in blocks))
        plain = self.ep.query("SELECT toString(number) FROM numbers(300000)").body
        self.assertEqual(sum(raw for _, _, raw in blocks), len(plain))
        # The endpoint reads back what it wrote, checksums checked: the round trip stores every line.
        r2 = self.ep.query("INSERT INTO lines FORMAT TSV", body=r.body, params={"decompress": "1"})
        self.assertEqual(r2.status, 200, r2)
        self.assertEqual(self.ep.scalar("SELECT count(), sum(toUInt64(s)) FROM lines"),
                         f"300000\t{sum(range(300000))}")

    def test_errors_are_framed_too(self):
        r = self.ep.query("SELECT * FROM no_such_table", params={"compress": "1"})
        self.assertEqual(r.exception_code, 60, r)
        self.assertEqual(parse_frames(r.body)[0][0], 0x82)
        back = self.ep.query("INSERT INTO lines FORMAT LineAsString", body=r.body, params={"decompress": "1"})
        self.assertEqual(back.status, 200, back)
        self.assertIn("UNKNOWN_TABLE", self.ep.scalar("SELECT s FROM lines"))

    def test_decompress_request_bodies(self):
        body = "".join(f"{i}\n" for i in range(5000)).encode()
        # Unchecked method-none frames (built here without a checksum), streamed INSERT and query text.
        r = self.ep.query("INSERT INTO lines FORMAT TSV", body=frames_none(body),
                          params={"decompress": "1",
                                  "http_native_compression_disable_checksumming_on_decompress": "1"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT count() FROM lines"), "5000")
        r = self.ep.request("POST", "/", body=frames_none(b"SELECT 40 + 2", block=4), params={
            "decompress": "1", "http_native_compression_disable_checksumming_on_decompress": "1"})
        self.assertEqual(r.text, "42\n", r)

    def test_decompress_errors_store_nothing(self):
        good = self.ep.query("SELECT toString(number) FROM numbers(1000)", params={"compress": "1"}).body
        flipped = bytearray(good)
        flipped[-3] ^= 0x40
        cases = [
            ("checksum", bytes(flipped), 40),
            ("no checksum, unframed", frames_none(b"1\n")[:-1], 271),
            ("not framed at all", b"1\n2\n3\n", 271),
            ("unknown method", b"\0" * 16 + struct.pack("<BII", 0x91, 11, 2) + b"1\n", 89),
        ]
        for name, body, code in cases:
            for target in ("INSERT INTO lines FORMAT TSV", None):
                if target:
                    r = self.ep.query(target, body=body, params={"decompress": "1"})
                else:
                    r = self.ep.request("POST", "/", body=body, params={"decompress": "1"})
                self.assertEqual(r.exception_code, code, (name, target, r))
        self.assertEqual(self.ep.scalar("SELECT count() FROM lines"), "0")

    # --- sessions and refusals ---------------------------------------------------------------------------

    def test_sessions(self):
        sid = "s-" + uuid.uuid4().hex
        self.assertEqual(self.ep.ok("SET max_threads = 3", params={"session_id": sid}), "")
        self.assertEqual(self.ep.scalar("SELECT getSetting('max_threads')", params={"session_id": sid}), "3")
        self.assertNotEqual(self.ep.scalar("SELECT getSetting('max_threads')"), "3")
        self.ep.ok("CREATE TEMPORARY TABLE tmp (x UInt8)", params={"session_id": sid})
        self.ep.ok("INSERT INTO tmp VALUES (7)", params={"session_id": sid})
        self.assertEqual(self.ep.scalar("SELECT x FROM tmp", params={"session_id": sid}), "7")
        other = self.ep.query("SELECT x FROM tmp", params={"session_id": sid + "-other"})
        self.assertEqual(other.exception_code, 60, other)
        r = self.ep.query("SELECT 1", params={"session_id": "never-" + sid, "session_check": "1"})
        self.assertEqual(r.exception_code, 372, r)
        self.assertEqual(self.ep.scalar("SELECT 1", params={"session_id": sid, "session_check": "1",
                                                            "close_session": "1"}), "1")
        r = self.ep.query("SELECT 1", params={"session_id": sid, "session_check": "1"})
        self.assertEqual(r.exception_code, 372, r)
        r = self.ep.query("SELECT 1", params={"session_id": sid, "session_timeout": "99999"})
        self.assertEqual(r.exception_code, 374, r)
        # A session idle past its timeout is gone, its settings with it.
        self.ep.ok("SET max_threads = 5", params={"session_id": sid, "session_timeout": "1"})
        import time
        time.sleep(2.5)
        r = self.ep.query("SELECT 1", params={"session_id": sid, "session_check": "1"})
        self.assertEqual(r.exception_code, 372, r)
        self.assertNotEqual(self.ep.scalar("SELECT getSetting('max_threads')", params={"session_id": sid}), "5")

    def test_refused_parameters(self):
        r = self.ep.query("SELECT 1", params={"role": "admin"})
        self.assertEqual(r.exception_code, 512, r)
        r = self.ep.query("SELECT 1", params={"compress": "maybe"})
        self.assertEqual(r.exception_code, 467, r)
        # Settings the engine does not know are still the engine's error.
        r = self.ep.query("SELECT 1", params={"no_such_setting_here": "1"})
        self.assertEqual(r.exception_code, 115, r)


if __name__ == "__main__":
    unittest.main(verbosity=2)
