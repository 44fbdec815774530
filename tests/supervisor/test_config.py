"""A bad configuration stops the supervisor at start with file:line; a good one passes --check-config."""
import subprocess

import pytest

from conftest import BIN, SOURCE_ROOT

# A local-mode file whose programs, engine and schema exist (the engine file is only checked for being a
# file: any file will do here).
GOOD = f"""mode: local
local:
  loggen: {BIN['loggen']}
  shipper: {BIN['shipper']}
  clickhouse_endpoint: {BIN['endpoint']}
  chdb_lib: {BIN['endpoint']}
  schema_dir: {SOURCE_ROOT}/manifests/clickhouse/schema
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


# What the settings point at, checked by --check-config and at every start: (replacement in GOOD, expected).
ENVIRONMENT = [
    ("shipper missing", (f"shipper: {BIN['shipper']}", "shipper: /nonexistent/shipper"), ':4: local.shipper: "/nonexistent/shipper" is not an executable program: No such file or directory'),
    ("shipper not executable", (f"shipper: {BIN['shipper']}", f"shipper: {SOURCE_ROOT}/README.md"), f':4: local.shipper: "{SOURCE_ROOT}/README.md" is not an executable program: Permission denied'),
    ("shipper a directory", (f"shipper: {BIN['shipper']}", "shipper: /tmp"), ':4: local.shipper: "/tmp" is not an executable program: Is a directory'),
    ("shipper not in PATH", (f"shipper: {BIN['shipper']}", "shipper: no-such-shipper"), ':4: local.shipper: "no-such-shipper" is not in PATH'),
    ("endpoint missing", (f"clickhouse_endpoint: {BIN['endpoint']}", "clickhouse_endpoint: /nonexistent/ce"), ":5: local.clickhouse_endpoint:"),
    ("loggen missing", (f"loggen: {BIN['loggen']}", "loggen: /nonexistent/loggen"), ":3: local.loggen:"),
    ("bad loggen duration", ("[--sleep-duration, 1s]", "[--sleep-duration, soon]"), ':8: local.loggen_args: loggen does not accept them: loggen: invalid value "soon" for --sleep-duration'),
    ("loggen value out of range", ("[--sleep-duration, 1s]", "[--max-number, '-1']"), ':8: local.loggen_args: loggen does not accept them: loggen: invalid value "-1" for --max-number: out of range'),
    ("unknown loggen flag", ("[--sleep-duration, 1s]", "[--frobnicate]"), ":8: local.loggen_args: loggen does not accept them: loggen: unknown option '--frobnicate'"),
    ("stray loggen argument", ("[--sleep-duration, 1s]", "[extra]"), ':8: local.loggen_args: loggen does not accept them: loggen: unexpected argument "extra"'),
    ("engine missing", (f"chdb_lib: {BIN['endpoint']}", "chdb_lib: /nonexistent/libchdb.so"), ":6: local.chdb_lib: /nonexistent/libchdb.so: No such file or directory"),
    ("schema not a directory", (f"schema_dir: {SOURCE_ROOT}/manifests/clickhouse/schema", f"schema_dir: {SOURCE_ROOT}/README.md"), f":7: local.schema_dir: {SOURCE_ROOT}/README.md is not a directory"),
]


@pytest.mark.parametrize("name,change,expect", ENVIRONMENT, ids=[e[0] for e in ENVIRONMENT])
@pytest.mark.parametrize("check_only", [True, False], ids=["check-config", "start"])
def test_what_the_settings_point_at_is_checked(tmp_path, name, change, expect, check_only):
    assert change[0] in GOOD
    cfg = tmp_path / "config.yaml"
    cfg.write_text(GOOD.replace(change[0], change[1]))
    r = subprocess.run([BIN["supervisor"], "--config", str(cfg)] + (["--check-config"] if check_only else []), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f"{cfg}{expect}" in r.stderr, r.stderr
    assert "valid" not in r.stdout


def test_a_default_program_not_in_path_is_named(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("\n".join(l for l in GOOD.splitlines() if not l.startswith("  shipper:")) + "\n")
    r = subprocess.run([BIN["supervisor"], "--config", str(cfg), "--check-config"], capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2
    assert f'{cfg}: local.shipper (the default): "shipper" is not in PATH' in r.stderr, r.stderr


def test_every_problem_is_named_at_once(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text(GOOD.replace(f"shipper: {BIN['shipper']}", "shipper: /nonexistent/shipper").replace("[--sleep-duration, 1s]", "[--sleep-duration, soon]"))
    r = subprocess.run([BIN["supervisor"], "--config", str(cfg), "--check-config"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert ":4: local.shipper:" in r.stderr and ":8: local.loggen_args:" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 2, r.stderr


def test_cluster_mode_leaves_minikube_to_the_machine(tmp_path):
    """The VM's file is checked where it is built, without minikube (tests/nix): a missing minikube is named
    in the status at run time (and retried), not refused here."""
    cfg = tmp_path / "config.yaml"
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    cfg.write_text(f"mode: cluster\nclickhouse:\n  password_file: {pw}\ncluster:\n  minikube: /nonexistent/minikube\n")
    r = subprocess.run([BIN["supervisor"], "--config", str(cfg), "--check-config"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "valid (cluster mode)" in r.stdout, r.stderr
