#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Every error path answers as ClickHouse's server does: HTTP status, X-ClickHouse-Exception-Code and a
"Code: N. DB::Exception: ... (NAME) (version V)" message; and authentication, every way clients send it."""
import gzip
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from endpoint import PASSWORD, USER, Endpoint, shipper_rows  # noqa: E402


class ErrorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(schema=True, extra_args=["--max-query-body", "65536"]).start()
        cls.version = cls.ep.scalar("SELECT version()")

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def assertException(self, r, status, code, name, text=None):
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.exception_code, code, r)
        self.assertTrue(r.text.startswith(f"Code: {code}. DB::Exception: "), r)
        self.assertTrue(r.text.endswith(f"({name}) (version {self.version})\n"), r)
        if text:
            self.assertIn(text, r.text)
        self.assertNotIn("/proc/self/fd", r.text)

    def test_unknown_table(self):
        self.assertException(self.ep.post("SELECT * FROM no_such_table"), 404, 60, "UNKNOWN_TABLE", "no_such_table")

    def test_syntax_error(self):
        self.assertException(self.ep.post("SELEKT 1"), 400, 62, "SYNTAX_ERROR", "Syntax error")

    def test_empty_query(self):
        self.assertException(self.ep.request("POST", "/", body=b"  \n"), 400, 62, "SYNTAX_ERROR", "Empty query")

    def test_unknown_function_and_identifier(self):
        self.assertException(self.ep.post("SELECT no_such_function(1)"), 404, 46, "UNKNOWN_FUNCTION")
        self.assertException(self.ep.post("SELECT no_such_column FROM otel_logs"), 404, 47, "UNKNOWN_IDENTIFIER")

    def test_unknown_database(self):
        self.assertException(self.ep.query("SELECT 1", params={"database": "nodb"}), 404, 81, "UNKNOWN_DATABASE")
        self.assertEqual(self.ep.scalar("SELECT currentDatabase()"), "default")

    def test_unknown_setting(self):
        self.assertException(self.ep.query("SELECT 1", params={"no_such_setting": "1"}), 404, 115, "UNKNOWN_SETTING")
        self.assertException(self.ep.query("SELECT 1", params={"bad-name": "1"}), 404, 115, "UNKNOWN_SETTING")

    def test_bad_setting_value(self):
        r = self.ep.query("SELECT 1", params={"max_threads": "many"})
        self.assertEqual(r.status, 400 if r.exception_code in (6, 27, 72) else 500, r)
        self.assertIsNotNone(r.exception_code)

    def test_malformed_rows(self):
        for enc in (None, "gzip"):
            body = b'{"Timestamp":"not a time","Body":"x"}\n'
            headers = {}
            if enc:
                body, headers = gzip.compress(body), {"Content-Encoding": "gzip"}
            r = self.ep.query("INSERT INTO otel_logs FORMAT JSONEachRow", body=body, headers=headers)
            self.assertException(r, 400, 41, "CANNOT_PARSE_DATETIME", "Timestamp")
        r = self.ep.query("INSERT INTO otel_logs FORMAT JSONEachRow", body=b'{"Body": "unterminated\n')
        self.assertEqual(r.status, 400, r)
        self.assertIsNotNone(r.exception_code)

    def test_failed_insert_stores_nothing(self):
        rows = shipper_rows(20, service="half-bad")
        import json
        body = "".join(json.dumps(r) + "\n" for r in rows) + '{"Timestamp": []}\n'
        r = self.ep.query("INSERT INTO otel_logs FORMAT JSONEachRow", body=body.encode())
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.ep.scalar("SELECT count() FROM otel_logs WHERE ServiceName = 'half-bad'"), "0")

    def test_corrupt_compressed_bodies(self):
        r = self.ep.query("INSERT INTO otel_logs FORMAT JSONEachRow", body=b"not gzip at all",
                          headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.status, 500, r)
        self.assertIsNotNone(r.exception_code)
        r = self.ep.query("INSERT INTO otel_logs FORMAT JSONEachRow", body=b"not zstd",
                          headers={"Content-Encoding": "zstd"})
        self.assertException(r, 500, 561, "ZSTD_DECODER_FAILED")
        r = self.ep.request("POST", "/", body=b"not gzip", headers={"Content-Encoding": "gzip"})
        self.assertException(r, 500, 354, "ZLIB_INFLATE_FAILED")

    def test_unknown_content_encoding(self):
        r = self.ep.request("POST", "/", body=b"SELECT 1", headers={"Content-Encoding": "br"})
        self.assertException(r, 400, 36, "BAD_ARGUMENTS", "Content-Encoding")

    def test_insert_over_get_is_readonly(self):
        r = self.ep.query("INSERT INTO otel_logs FORMAT JSONEachRow", method="GET")
        self.assertException(r, 500, 164, "READONLY", "method GET implies readonly")
        r = self.ep.query("CREATE TABLE x (a Int8) ENGINE = Memory", method="GET")
        self.assertException(r, 500, 164, "READONLY")

    def test_query_body_limit(self):
        r = self.ep.post("SELECT '" + "x" * 70000 + "'")
        self.assertException(r, 413, 202, "QUERY_IS_TOO_LARGE")
        # Streamed INSERT bodies are not limited by --max-query-body.
        r = self.ep.insert(shipper_rows(2000, service="big-stream"))
        self.assertEqual(r.status, 200, r)

    def test_unknown_format(self):
        r = self.ep.query("SELECT 1", params={"default_format": "NoSuchFormat"})
        self.assertException(r, 404, 73, "UNKNOWN_FORMAT")

    def test_unknown_path_and_method(self):
        r = self.ep.request("GET", "/nope")
        self.assertEqual(r.status, 404)
        r = self.ep.request("PUT", "/", body=b"SELECT 1")
        self.assertEqual(r.status, 405)


class AuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint(schema=False).start()

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def assertAuthFailed(self, r, user="default"):
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.exception_code, 516, r)
        self.assertTrue(r.text.startswith(f"Code: 516. DB::Exception: {user}: Authentication failed"), r)
        self.assertIn("(AUTHENTICATION_FAILED)", r.text)

    def test_every_way_to_authenticate(self):
        for auth in ("headers", "basic", "params"):
            r = self.ep.query("SELECT 1", auth=auth)
            self.assertEqual((r.status, r.text), (200, "1\n"), auth)

    def test_wrong_password(self):
        self.assertAuthFailed(self.ep.query("SELECT 1", auth=("default", "wrong")))
        self.assertAuthFailed(self.ep.query("SELECT 1", auth=("default", PASSWORD + "x")))
        self.assertAuthFailed(self.ep.query("SELECT 1", auth=("default", PASSWORD[:-1])))

    def test_wrong_user(self):
        self.assertAuthFailed(self.ep.query("SELECT 1", auth=("admin", PASSWORD)), user="admin")

    def test_no_credentials(self):
        self.assertAuthFailed(self.ep.query("SELECT 1", auth=None))
        self.assertAuthFailed(self.ep.query("INSERT INTO t FORMAT JSONEachRow", body=b"{}", auth=None))

    def test_bad_basic_auth(self):
        r = self.ep.query("SELECT 1", auth=None, headers={"Authorization": "Basic !!!"})
        self.assertAuthFailed(r)

    def test_ping_needs_no_auth(self):
        self.assertEqual(self.ep.request("GET", "/ping", auth=None).status, 200)

    def test_refuses_to_start_with_an_empty_password(self):
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            secrets = os.path.join(d, "secrets")
            os.mkdir(secrets, 0o700)
            for name in ("admin", "ingest"):
                with open(os.path.join(secrets, name + ".password"), "w") as f:
                    f.write("a-password\n")
            with open(os.path.join(secrets, "reader.password"), "w") as f:
                f.write("\n")
            p = subprocess.run([self.ep.program, "--data-dir", os.path.join(d, "data"), "--chdb-lib", self.ep.lib,
                                "--port", "0", "--secrets-dir", secrets],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b"reader.password (empty passwords are refused)", p.stdout)
            p = subprocess.run([self.ep.program, "--data-dir", d, "--port", "99999"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(p.returncode, 2, p.stdout)
            self.assertIn(b"--port", p.stdout)

    def test_config_errors_exit_2_before_the_engine_loads(self):
        """Every configuration mistake exits 2 with one line naming the option, before libchdb is loaded
        (--chdb-lib points nowhere, so reaching the engine would fail differently)."""
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ)
            secrets = ["--secrets-dir", os.path.join(d, "secrets")]
            cases = [
                (["--port", "99999"], b"--port"),
                (["--port", "-1"], b"--port"),
                (["--listen", "not-an-address"], b"--listen"),
                (["--listen", "256.1.1.1"], b"--listen"),
                (["--listen", "::1::2"], b"--listen"),
                (["--listen", "localhost"], b"--listen"),
                (["--max-connections", "0"], b"--max-connections"),
                (["--logs-ttl-days", "3"], b"--logs-ttl-days"),
            ]
            for args, option in cases:
                p = subprocess.run(
                    [self.ep.program, "--data-dir", d, "--chdb-lib", "/nonexistent/libchdb.so"] + secrets + args,
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
                self.assertEqual(p.returncode, 2, (args, p.stdout))
                self.assertIn(option, p.stdout, args)
                self.assertNotIn(b"libchdb", p.stdout, args)
            # A run-time failure (the engine cannot be loaded) is 1, not 2.
            p = subprocess.run([self.ep.program, "--data-dir", d, "--chdb-lib", "/nonexistent/libchdb.so",
                                "--port", "0"] + secrets, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=60)
            self.assertEqual(p.returncode, 1, p.stdout)
            self.assertIn(b"libchdb", p.stdout)

    def test_day_and_second_options_refuse_overflow(self):
        """--logs-ttl-days and --shutdown-timeout take a bounded count: a value past the range, past int64 or
        past uint64, negative or not a number exits 2 with one line naming the option and its range, from a
        flag or from the environment, before the engine is loaded."""
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            base = [self.ep.program, "--data-dir", d, "--chdb-lib", "/nonexistent/libchdb.so",
                    "--secrets-dir", os.path.join(d, "secrets"), "--schema-dir", os.environ["SCHEMA_DIR"]]
            bad = ["0", "36501", "9223372036854775807", "9223372036854775808", "18446744073709551616",
                   "99999999999999999999999", "-1", "-9223372036854775809", "1e3", "7d", ""]
            cases = [(["--logs-ttl-days", v], {}, b"--logs-ttl-days", b"from 1 to 36500") for v in bad]
            cases += [([], {"OTEL_LOGS_TTL_DAYS": v}, b"OTEL_LOGS_TTL_DAYS", b"from 1 to 36500") for v in bad[:6]]
            cases += [(["--shutdown-timeout", v], {}, b"--shutdown-timeout", b"from 0 to 3600")
                      for v in ("3601", "4294967296", "18446744073709551616", "-1")]
            for args, extra_env, option, range_text in cases:
                env = dict(os.environ, **extra_env)
                p = subprocess.run(base + args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   timeout=60)
                self.assertEqual(p.returncode, 2, (args, extra_env, p.stdout))
                self.assertEqual(p.stdout.count(b"\n"), 1, (args, extra_env, p.stdout))
                self.assertIn(option, p.stdout, (args, extra_env))
                self.assertIn(range_text, p.stdout, (args, extra_env))
                self.assertNotIn(b"libchdb", p.stdout, (args, extra_env))


class TestFraming(unittest.TestCase):
    """RFC 9112 §6.3: conflicting Content-Length fields are a 400, and nothing of the body is stored."""

    @classmethod
    def setUpClass(cls):
        cls.ep = Endpoint().start()
        cls.ep.ok("CREATE TABLE framing (s String) ENGINE = MergeTree ORDER BY s")

    @classmethod
    def tearDownClass(cls):
        cls.ep.cleanup()

    def raw(self, head, body=b""):
        import socket
        with socket.create_connection(("127.0.0.1", self.ep.port), timeout=30) as s:
            s.sendall(head.replace(b"\n", b"\r\n") + b"\r\n" + body)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data

    def request_head(self, *length_fields):
        q = urllib.parse.quote("INSERT INTO framing FORMAT TSV")
        lines = [f"POST /?query={q} HTTP/1.1", "Host: x", "Connection: close", f"X-ClickHouse-User: {USER}",
                 f"X-ClickHouse-Key: {PASSWORD}"] + [f"Content-Length: {v}" for v in length_fields]
        return ("\n".join(lines) + "\n").encode()

    def test_two_different_lengths(self):
        for fields in (("5", "7"), ("7", "5"), ("5, 7",), ("5", "5, 7"), ("x",), ("5", "")):
            data = self.raw(self.request_head(*fields), b"wxyz\nefg\n")
            self.assertTrue(data.startswith(b"HTTP/1.1 400"), (fields, data[:200]))
            self.assertIn(b"Content-Length", data)
        self.assertEqual(self.ep.scalar("SELECT count() FROM framing WHERE s != 'abcd'"), "0")

    def test_same_length_twice_is_one_length(self):
        data = self.raw(self.request_head("5", "5"), b"abcd\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:300])
        self.assertEqual(self.ep.scalar("SELECT count() FROM framing WHERE s = 'abcd'"), "1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
