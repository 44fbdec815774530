"""A bad configuration stops the supervisor at start with file:line; a good one passes --check-config."""
import subprocess

import pytest

from conftest import BIN

GOOD = """mode: local
local:
  chdb_lib: /nonexistent/libchdb.so
  schema_dir: /tmp
  loggen_args: [--sleep-duration, 1s]
status:
  listen: ""
"""

BAD = [
    ("unknown key", "mode: local\nlocal:\n  chdb_lib: x\n  schema_dir: y\nbogus: 1\n", ":5: unknown key \"bogus\""),
    ("unknown nested key", "mode: local\nlocal:\n  chdb_lib: x\n  schema_dir: y\n  nope: 3\n", ":5: unknown key \"nope\" in local"),
    ("bad mode", "mode: vm\n", ":1: mode: expected \"cluster\" or \"local\""),
    ("bad duration", "poll_interval: soon\nmode: local\n", ":1: poll_interval: expected a duration"),
    ("duration out of range", "poll_interval: 1ms\n", ":1: poll_interval: out of range"),
    ("bad port", "mode: local\nlocal:\n  clickhouse_port: 70000\n", ":3: local.clickhouse_port: out of range"),
    ("list expected", "local:\n  loggen_args: --rate\n", ":2: loggen_args: expected a list of strings"),
    ("scalar expected", "status:\n  socket: [a, b]\n", ":2: status.socket: expected a single value"),
    ("mapping expected", "status: 5\n", ":1: status: expected a mapping"),
    ("bad socket mode", "status:\n  socket_mode: \"0999\"\n", ":2: status.socket_mode"),
    ("bad listen", "status:\n  listen: nowhere\n", ":2: status.listen"),
    ("syntax error", "mode: local\n  bad: [indent\n", ":2:"),
    ("duplicate key", "mode: local\nmode: cluster\n", ":2: duplicate key \"mode\" (first at line 1)"),
    ("duplicate nested key", "local:\n  loggen: a\n  shipper: b\n  loggen: c\n", ":4: duplicate key \"loggen\" (first at line 2)"),
    ("duplicate section", "local:\n  loggen: a\nstatus:\n  listen: \"\"\nlocal:\n  shipper: b\n", ":5: duplicate key \"local\" (first at line 1)"),
    ("not a mapping", "- mode\n- local\n", ":1: expected a mapping of settings, got a list"),
    ("empty value", "state_dir: \"\"\n", ":1: state_dir"),
    ("local needs the engine", "mode: local\nlocal:\n  schema_dir: /tmp\n", "local mode needs local.chdb_lib"),
    ("cluster needs a password", "mode: cluster\n", "password_file is required"),
]


@pytest.mark.parametrize("name,text,expect", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_file_and_line(tmp_path, name, text, expect):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text)
    r = subprocess.run([BIN["supervisor"], "--config", str(cfg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert expect in r.stderr, r.stderr
    assert str(cfg) in r.stderr, "the message names the file"
    assert r.stderr.count("\n") == 1, "one line: " + r.stderr


def test_missing_config_file(tmp_path):
    r = subprocess.run([BIN["supervisor"], "--config", str(tmp_path / "nope.yaml")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "nope.yaml" in r.stderr and "No such file" in r.stderr


def test_check_config_accepts_a_valid_file(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(GOOD)
    r = subprocess.run([BIN["supervisor"], "--config", str(cfg), "--check-config"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "valid (local mode)" in r.stdout


def test_help_and_version():
    r = subprocess.run([BIN["supervisor"], "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--config" in r.stdout
    r = subprocess.run([BIN["supervisor"], "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("otel-supervisor ")
    r = subprocess.run([BIN["supervisor"], "--frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option" in r.stderr
