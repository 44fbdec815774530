# SPDX-License-Identifier: MIT
"""The endpoint as an access boundary (docs/security.md): what each of its users may do, and that nothing
reaches the file system or the network through it. Every probe is sent as a hostile client would, over POST
and GET, by each user, and must be refused with ClickHouse's own exception code; the files it would have
read or written are checked on disk, the connections it would have made on a listening socket."""
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from endpoint import ADMIN, INGEST, READER, Endpoint, shipper_rows  # noqa: E402

USERS = {"admin": ADMIN, "ingest": INGEST, "reader": READER}


def now():
    """The current time as ClickHouse reads a DateTime literal (rows older than the TTL are dropped)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


class Listener:
    """A TCP socket that records whether anything connected to it (the endpoint must never)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            c.close()

    def close(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


def non_loopback_address():
    """An IPv4 address of this machine that is not a loopback one, or None."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], stdout=subprocess.PIPE, text=True).stdout
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        if not addr.startswith("127."):
            return addr
    return None


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ch-security-")
        cls.ep = Endpoint().start()
        cls.listener = Listener()
        # The secret a hostile client would most like to read: a password file of the endpoint itself.
        cls.secret_file = os.path.join(cls.ep.secrets_dir, "admin.password")
        cls.ep.insert(shipper_rows(20, service="security"))

    @classmethod
    def tearDownClass(cls):
        cls.listener.close()
        cls.ep.cleanup()
        subprocess.run(["rm", "-rf", cls.tmp])

    def run_as(self, user, sql, method="POST", **kw):
        if method == "GET":
            return self.ep.query(sql, method="GET", auth=USERS[user], **kw)
        return self.ep.post(sql, auth=USERS[user], **kw)

    def assertRefused(self, r, codes, name=None, text=None):
        codes = codes if isinstance(codes, (tuple, set, list)) else (codes,)
        self.assertNotEqual(r.status, 200, r)
        self.assertIn(r.exception_code, codes, r)
        self.assertTrue(r.text.startswith(f"Code: {r.exception_code}. DB::Exception: "), r)
        if name:
            self.assertIn(f"({name})", r.text)
        if text:
            self.assertIn(text, r.text)

    # --- reading files -------------------------------------------------------------------------------

    def test_file_read_is_refused(self):
        for user in USERS:
            for method in ("POST", "GET"):
                with self.subTest(user=user, method=method):
                    # The table function: the engine's grants (no role has READ ON FILE).
                    r = self.run_as(user, f"SELECT * FROM file('{self.secret_file}', 'LineAsString')", method)
                    self.assertRefused(r, 497, "ACCESS_DENIED", "READ ON FILE")
                    self.assertIn(f"{USERS[user][0]}: Not enough privileges", r.text)
                    self.assertNotIn(ADMIN[1], r.text)
                    # The engine's local file-system database (a path as a table name): the same grant.
                    r = self.run_as(user, "SELECT * FROM `/etc/passwd`", method)
                    self.assertRefused(r, 497, "ACCESS_DENIED", "READ ON FILE")
                    # The scalar file(): nothing in the engine checks it, the endpoint refuses it.
                    r = self.run_as(user, f"SELECT file('{self.secret_file}')", method)
                    self.assertRefused(r, 291, "DATABASE_ACCESS_DENIED")
                    self.assertNotIn(ADMIN[1], r.text)
                    r = self.run_as(user, "SELECT * FROM numbers(1) WHERE `file`('/etc/passwd') != ''", method)
                    self.assertRefused(r, 291, "DATABASE_ACCESS_DENIED")

    def test_client_side_file_read_is_refused(self):
        r = self.run_as("ingest", f"INSERT INTO otel_logs (Body) FROM INFILE '{self.secret_file}' FORMAT LineAsString")
        self.assertRefused(r, 78, "UNKNOWN_TYPE_OF_QUERY")
        r = self.run_as("admin", "INSERT INTO otel_logs (Body) FROM INFILE '/etc/passwd' FORMAT LineAsString")
        self.assertRefused(r, 78, "UNKNOWN_TYPE_OF_QUERY")

    def test_settings_that_name_files_are_constant(self):
        for setting, value in (("format_schema", "/etc/passwd:Message"), ("output_format_schema", self.tmp + "/s"),
                               ("format_template_row", "/etc/passwd"),
                               ("input_format_record_errors_file_path", self.tmp + "/errors"),
                               ("additional_table_filters", "{'otel_logs': 'file(\\'/etc/passwd\\') != \\'\\''}"),
                               ("input_format_values_interpret_expressions", "1")):
            with self.subTest(setting=setting):
                r = self.ep.query("SELECT 1", auth=READER, params={setting: value})
                self.assertRefused(r, 452, "SETTING_CONSTRAINT_VIOLATION")
                r = self.run_as("reader", f"SELECT 1 SETTINGS {setting} = '{value}'")
                self.assertRefused(r, (452, 62, 291), None)
        self.assertEqual(os.listdir(self.tmp), [])

    def test_values_rows_run_no_function(self):
        r = self.run_as("ingest", "INSERT INTO otel_logs (Body) VALUES (file('/etc/passwd'))")
        self.assertRefused(r, 344, "SUPPORT_IS_DISABLED")
        r = self.ep.query("INSERT INTO otel_logs (Body) VALUES", body=b"(file('/etc/passwd'))", auth=INGEST)
        self.assertRefused(r, 344, "SUPPORT_IS_DISABLED")
        # Literal rows still go in.
        r = self.run_as("ingest", "INSERT INTO otel_logs (Timestamp, ServiceName, Body) "
                        f"VALUES ('{now()}', 'values-literal', 'ok')")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT count() FROM otel_logs WHERE ServiceName = 'values-literal'"), "1")

    # --- writing files -------------------------------------------------------------------------------

    def test_file_write_is_refused(self):
        for user in USERS:
            for method in ("POST", "GET"):
                with self.subTest(user=user, method=method):
                    target = os.path.join(self.tmp, f"{user}-{method}")
                    r = self.run_as(user, f"INSERT INTO FUNCTION file('{target}.tf', 'TSV') SELECT 1", method)
                    # No role has WRITE ON FILE (checked before GET's readonly).
                    self.assertRefused(r, 497, "ACCESS_DENIED", "WRITE ON FILE")
                    r = self.run_as(user, f"SELECT 1 INTO OUTFILE '{target}.out'", method)
                    self.assertRefused(r, 358, "INTO_OUTFILE_NOT_ALLOWED", "INTO OUTFILE is not allowed")
                    r = self.run_as(user, f"SELECT version() INTO OUTFILE '{target}.tr' TRUNCATE FORMAT TSV", method)
                    self.assertRefused(r, 358, "INTO_OUTFILE_NOT_ALLOWED")
                    r = self.run_as(user, f"CREATE TABLE f_{user} (s String) ENGINE = File(TSV, '{target}.eng')",
                                    method)
                    self.assertRefused(r, (164, 497))
        self.assertEqual(os.listdir(self.tmp), [])

    # --- the network ---------------------------------------------------------------------------------

    def test_no_outbound_connection(self):
        url = f"http://127.0.0.1:{self.listener.port}/"
        for user in USERS:
            with self.subTest(user=user):
                r = self.run_as(user, f"SELECT * FROM url('{url}', 'LineAsString')")
                self.assertRefused(r, 497, "ACCESS_DENIED", "READ ON URL")
                r = self.run_as(user, f"SELECT * FROM remote('127.0.0.1:{self.listener.port}', system.one)")
                self.assertRefused(r, 497, "ACCESS_DENIED", "REMOTE")
                r = self.run_as(user, f"SELECT * FROM s3('{url}bucket/key', 'LineAsString')")
                self.assertRefused(r, (497, 36))
                r = self.run_as(user, f"INSERT INTO FUNCTION url('{url}', 'TSV', 'x UInt8') SELECT 1")
                self.assertRefused(r, 497, "ACCESS_DENIED")
        r = self.run_as("admin", f"CREATE TABLE u (s String) ENGINE = URL('{url}', LineAsString)")
        self.assertRefused(r, 497, "ACCESS_DENIED", "TABLE ENGINE ON URL")
        r = self.run_as("admin", "CREATE DICTIONARY d (k UInt64, v String) PRIMARY KEY k "
                        f"SOURCE(HTTP(url '{url}' format 'TSV')) LAYOUT(FLAT()) LIFETIME(0)")
        self.assertRefused(r, 497, "ACCESS_DENIED", "CREATE DICTIONARY")
        self.assertEqual(self.listener.connections, 0)

    def test_no_command_execution(self):
        r = self.run_as("admin", "CREATE DICTIONARY x (k UInt64, v String) PRIMARY KEY k "
                        "SOURCE(EXECUTABLE(command 'id' format 'TSV')) LAYOUT(FLAT()) LIFETIME(0)")
        self.assertRefused(r, 497, "ACCESS_DENIED", "CREATE DICTIONARY")
        r = self.run_as("admin", "SELECT * FROM executable('id', TSV, 'x String')")
        self.assertRefused(r, (1, 497))
        r = self.run_as("admin", "SYSTEM SHUTDOWN")
        self.assertRefused(r, 497, "ACCESS_DENIED")
        self.assertEqual(self.ep.scalar("SELECT 1"), "1")

    # --- each user's rights --------------------------------------------------------------------------

    def test_reader_cannot_write_or_change_the_schema(self):
        for method in ("POST", "GET"):
            with self.subTest(method=method):
                for sql in ("CREATE TABLE x (a Int8) ENGINE = Memory", "DROP TABLE otel_logs",
                            "ALTER TABLE otel_logs DELETE WHERE 1", "TRUNCATE TABLE otel_logs",
                            "CREATE TEMPORARY TABLE tt (a Int8) ENGINE = File(TSV, '/etc/passwd')"):
                    r = self.run_as("reader", sql, method)
                    self.assertRefused(r, (164, 497))
                r = self.run_as("reader", "INSERT INTO otel_logs (Body) VALUES ('x')", method)
                self.assertRefused(r, (164, 497))
                r = self.ep.insert(shipper_rows(1, service="by-reader"), auth=READER)
                self.assertRefused(r, (164, 497))
        self.assertEqual(self.ep.scalar("SELECT count() FROM otel_logs WHERE ServiceName = 'by-reader'"), "0")
        self.assertGreater(int(self.ep.scalar("SELECT count() FROM otel_logs")), 0)

    def test_reader_is_readonly_2(self):
        # readonly=2: may change settings, may not lower readonly (decided by the engine).
        r = self.run_as("reader", "SELECT getSetting('readonly'), getSetting('max_threads')",
                        params={"max_threads": "1"})
        self.assertEqual((r.status, r.text), (200, "2\t1\n"), r)
        r = self.run_as("reader", "SELECT 1", params={"readonly": "0"})
        self.assertRefused(r, 164, "READONLY")
        r = self.run_as("reader", "SET readonly = 0")
        self.assertRefused(r, 164, "READONLY")

    def test_reader_reads(self):
        for method in ("POST", "GET"):
            r = self.run_as("reader", "SELECT count() FROM otel_logs WHERE ServiceName = 'security'", method)
            self.assertEqual((r.status, r.text), (200, "20\n"), r)
        # What HyperDX reads before it writes SQL: columns and skip indexes of the table.
        r = self.run_as("reader", "SELECT count() FROM system.columns WHERE database = 'default' AND table = 'otel_logs'")
        self.assertGreater(int(r.text), 20, r)
        r = self.run_as("reader", "SELECT count() FROM system.data_skipping_indices WHERE table = 'otel_logs'")
        self.assertGreater(int(r.text), 0, r)
        r = self.run_as("reader", "DESCRIBE TABLE otel_logs")
        self.assertEqual(r.status, 200, r)
        r = self.run_as("reader", "SELECT sum(number) FROM numbers(10)")
        self.assertEqual((r.status, r.text), (200, "45\n"), r)

    def test_inserter_inserts_only(self):
        r = self.ep.insert(shipper_rows(5, service="by-ingest"), auth=INGEST, token="security-ingest")
        self.assertEqual(r.status, 200, r)
        # Its rows reach the hourly aggregate too (the view runs with its creator's rights).
        self.assertEqual(self.ep.scalar(
            "SELECT sum(log_count) FROM otel_logs_hourly_summary WHERE ServiceName = 'by-ingest'"), "5")
        for method in ("POST", "GET"):
            with self.subTest(method=method):
                r = self.run_as("ingest", "SELECT count() FROM otel_logs", method)
                self.assertRefused(r, 497, "ACCESS_DENIED", "SELECT")
                self.assertIn("otel_ingest: Not enough privileges", r.text)
                r = self.run_as("ingest", "SELECT * FROM otel_logs_hourly_summary", method)
                self.assertRefused(r, 497, "ACCESS_DENIED")
        r = self.run_as("ingest", "INSERT INTO otel_logs SELECT * FROM otel_logs")
        self.assertRefused(r, 497, "ACCESS_DENIED")
        r = self.run_as("ingest", "INSERT INTO otel_logs_hourly (ServiceName) VALUES ('x')")
        self.assertRefused(r, 497, "ACCESS_DENIED")
        for sql in ("CREATE TABLE x (a Int8) ENGINE = Memory", "DROP TABLE otel_logs",
                    "ALTER TABLE otel_logs DELETE WHERE 1"):
            self.assertRefused(self.run_as("ingest", sql), 497, "ACCESS_DENIED")
        # metrics_raw, the sampler's table, takes its rows too.
        r = self.ep.query("INSERT INTO metrics_raw FORMAT JSONEachRow", body=b"", auth=INGEST)
        self.assertEqual(r.status, 200, r)

    def test_no_role_change(self):
        for user in USERS:
            for sql in ("SET ROLE otel_admin", "SET ROLE ALL", "SET ROLE NONE", "SET DEFAULT ROLE ALL TO default"):
                self.assertRefused(self.run_as(user, sql), 512, "SET_NON_GRANTED_ROLE")
        r = self.ep.query("SELECT count() FROM otel_logs", auth=INGEST, params={"role": "otel_reader"})
        self.assertRefused(r, 512, "SET_NON_GRANTED_ROLE")
        r = self.ep.query("SELECT currentRoles()", auth=READER, params={"role": "otel_reader"})
        self.assertEqual((r.status, r.text), (200, "['otel_reader']\n"), r)
        for user in USERS:
            self.assertRefused(self.run_as(user, "CREATE USER x IDENTIFIED BY 'y'"), (164, 497))
            self.assertRefused(self.run_as(user, "GRANT ALL ON *.* TO default"), (164, 497))

    def test_one_statement_per_request(self):
        r = self.run_as("ingest", "SELECT 1; SELECT count() FROM otel_logs")
        self.assertRefused(r, 62, "SYNTAX_ERROR", "Multi-statements are not allowed")
        r = self.run_as("reader", "SELECT 1;\nSET ROLE otel_admin")
        self.assertRefused(r, (62, 512))
        # Rows after FORMAT are rows, whatever they look like.
        r = self.ep.post("INSERT INTO otel_logs (Timestamp, ServiceName, Body) FORMAT TSV\n"
                         f"{now()}\trows-as-sql\t; SELECT file('x')\n", auth=INGEST)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.ep.scalar("SELECT Body FROM otel_logs WHERE ServiceName = 'rows-as-sql'"),
                         "; SELECT file(\\'x\\')")

    def test_nothing_a_request_sets_outlives_it(self):
        r = self.run_as("reader", "SET max_result_rows = 1")
        self.assertEqual(r.status, 200, r)
        r = self.run_as("reader", "SELECT getSetting('max_result_rows'), currentRoles()")
        self.assertEqual(r.text, "0\t['otel_reader']\n", r)
        r = self.run_as("admin", "USE system")
        self.assertEqual(r.status, 200, r)
        r = self.run_as("admin", "SELECT currentDatabase()")
        self.assertEqual(r.text, "default\n", r)

    # --- who may log in ------------------------------------------------------------------------------

    def test_users_and_passwords(self):
        for user, (name, password) in USERS.items():
            r = self.ep.query("SELECT currentRoles()", auth=(name, password))
            self.assertEqual(r.text, f"['{name}']\n", r)
            r = self.ep.query("SELECT 1", auth=(name, password + "x"))
            self.assertRefused(r, 516, "AUTHENTICATION_FAILED")
            self.assertTrue(r.text.startswith(f"Code: 516. DB::Exception: {name}: Authentication failed"), r)
        for name, password in (("default", ""), ("default", ADMIN[1]), ("otel_reader", ADMIN[1]),
                               ("otel_admin", READER[1])):
            self.assertRefused(self.ep.query("SELECT 1", auth=(name, password)), 516, "AUTHENTICATION_FAILED")

    def test_passwords_from_the_environment(self):
        # What the StatefulSet gives the ClickHouse pod from the Secret: the variables win over the files.
        env = {"CLICKHOUSE_READER_PASSWORD": "reader-from-env", "CLICKHOUSE_INGEST_PASSWORD": ""}
        with Endpoint(schema=False, env=env) as ep:
            try:
                self.assertEqual(ep.query("SELECT 1", auth=("otel_reader", "reader-from-env")).text, "1\n")
                self.assertRefused(ep.query("SELECT 1", auth=READER), 516, "AUTHENTICATION_FAILED")
                # An empty variable is no password: the file's stays.
                self.assertEqual(ep.query("SELECT currentRoles()", auth=INGEST).text, "['otel_ingest']\n")
                self.assertEqual(ep.query("SELECT 1").status, 200)
            finally:
                ep.cleanup()

    def test_admin_only_from_this_machine(self):
        addr = non_loopback_address()
        self.assertIsNotNone(addr, "no non-loopback address to test from")
        with Endpoint(schema=False, extra_args=["--listen", "0.0.0.0"]) as ep:
            try:
                import http.client
                for (name, password), want in ((ADMIN, 403), (READER, 200), (INGEST, 200)):
                    conn = http.client.HTTPConnection(addr, ep.port, timeout=30)
                    conn.request("POST", "/", body=b"SELECT 1",
                                 headers={"X-ClickHouse-User": name, "X-ClickHouse-Key": password})
                    resp = conn.getresponse()
                    body = resp.read()
                    conn.close()
                    self.assertEqual(resp.status, want, (name, body))
                # From loopback the admin is accepted.
                self.assertEqual(ep.query("SELECT 1").status, 200)
            finally:
                ep.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
