# SPDX-License-Identifier: MIT
"""The official Python client, clickhouse-connect, against the embedded endpoint: the calls an application
makes, once per compression setting. Usage: test_python.py HOST PORT (password in CLICKHOUSE_PASSWORD, the
package found through PYTHONPATH). Prints one line per check and "N passed, N failed"."""
import os
import sys
import traceback

import clickhouse_connect
from clickhouse_connect.driver.exceptions import DatabaseError

passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"ok   {name}", flush=True)
    except Exception:
        failed += 1
        print(f"FAIL {name}: {traceback.format_exc()}", flush=True)


def run(host, port, password, compress, label):
    client = clickhouse_connect.get_client(host=host, port=int(port), username="default", password=password,
                                           compress=compress, send_receive_timeout=120)

    def ping():
        assert client.ping()
        assert client.server_version.split(".")[0].isdigit(), client.server_version

    check(f"{label}: ping and server version", ping)

    for n in (5, 6000):
        def params(n=n):
            value = "é" * n + "'\\"
            r = client.query("SELECT lengthUTF8({p:String}), {p:String} = {q:String}",
                             parameters={"p": value, "q": value})
            assert r.result_rows == [(n + 2, 1)], r.result_rows
        check(f"{label}: query with a {n}-character bound parameter", params)

    table = f"py_{label}"

    def insert():
        client.command(f"DROP TABLE IF EXISTS {table}")
        client.command(f"CREATE TABLE {table} (id UInt32, name String, tags Array(String), "
                       "attrs Map(LowCardinality(String), String), v Nullable(Float64)) "
                       "ENGINE = MergeTree ORDER BY id")
        rows = [(i, f"row {i}", ["a", str(i)], {"k": str(i)}, None if i % 3 == 0 else i / 2)
                for i in range(20000)]
        summary = client.insert(table, rows, column_names=["id", "name", "tags", "attrs", "v"])
        assert summary.written_rows == 20000, summary.summary
        r = client.query(f"SELECT count(), sum(id), countIf(v IS NULL) FROM {table}")
        assert r.result_rows == [(20000, 199990000, 6667)], r.result_rows
    check(f"{label}: insert 20000 rows (Native)", insert)

    def stream():
        n = 0
        with client.query_row_block_stream(f"SELECT id, name, attrs FROM {table} ORDER BY id") as blocks:
            for block in blocks:
                for row in block:
                    assert row == (n, f"row {n}", {"k": str(n)}), row
                    n += 1
        assert n == 20000, n
    check(f"{label}: streaming result blocks", stream)

    def json_formats():
        raw = client.raw_query(f"SELECT id, name FROM {table} ORDER BY id LIMIT 3", fmt="JSONEachRow")
        lines = raw.decode().splitlines()
        assert lines[2] == '{"id":2,"name":"row 2"}', lines
    check(f"{label}: JSONEachRow raw query", json_formats)

    def error():
        try:
            client.query("SELECT * FROM no_such_table_here")
        except DatabaseError as e:
            assert "Code: 60" in str(e) and "UNKNOWN_TABLE" in str(e), str(e)
            return
        raise AssertionError("no error")
    check(f"{label}: server error with its code", error)
    client.close()


def main():
    host, port = sys.argv[1], sys.argv[2]
    password = os.environ["CLICKHOUSE_PASSWORD"]
    for compress, label in ((True, "default"), ("lz4", "lz4"), ("zstd", "zstd"), ("gzip", "gzip"),
                            (False, "none")):
        run(host, port, password, compress, label)
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
