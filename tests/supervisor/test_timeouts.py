"""The configured limits govern the minikube commands: `minikube start` runs until cluster.start_timeout
(a first start takes minutes), the other commands until cluster.command_timeout; a command past its limit
is killed (with its children) and the reason names the limit.

The commands here are a few lines of shell standing in for minikube (`status` says the cluster is stopped,
`start` and `status` take as long as the test says): what is tested is the supervisor's timing of them, for
which the real control plane behind tests/supervisor/minikube adds nothing."""
import os
import signal
import time

import pytest

from conftest import Supervisor, free_port, pid_alive, status_json, wait_until

SLOW_MINIKUBE = """#!/bin/sh
# minikube -p PROFILE COMMAND ...
echo "$$ $3" >> "$STUB_DIR/calls.log"
case "$3" in
status)
    sleep "${STATUS_SLEEP:-0}"
    echo '{"Name":"otel","Host":"Stopped","Kubelet":"Stopped","APIServer":"Stopped","Kubeconfig":"Misconfigured","Worker":false}'
    exit 7;;
start)
    sleep "$START_SLEEP" &
    echo "$$ $!" > "$STUB_DIR/start.pids"
    wait
    exit 0;;
esac
exit 0
"""


def start(tmp_path, cluster_settings, env):
    stub = tmp_path / "minikube"
    stub.write_text(SLOW_MINIKUBE)
    stub.chmod(0o755)
    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    for d in ("images", "manifests"):
        (tmp_path / d).mkdir()
    config = f"""mode: cluster
state_dir: {tmp_path}/state
poll_interval: 1s
status:
  socket: {tmp_path}/status.sock
  listen: ""
clickhouse:
  url: http://127.0.0.1:{free_port()}
  password_file: {pw}
cluster:
  minikube: {stub}
  images_dir: {tmp_path}/images
  manifests_dir: {tmp_path}/manifests
{cluster_settings}"""
    sup = Supervisor(tmp_path, config, env=dict(env, STUB_DIR=str(tmp_path)))
    sup.sock = str(tmp_path / "status.sock")
    return sup


def reason_with(sup, text, timeout):
    return wait_until(lambda: (lambda s: s if text in (s["reason"] or "") else None)(status_json(sup.sock)), timeout, what=repr(text))


def test_start_runs_until_start_timeout_then_is_killed(tmp_path):
    sup = start(tmp_path, "  start_timeout: 2s\n  command_timeout: 1m\n", {"START_SLEEP": "600"})
    try:
        t0 = time.monotonic()
        st = reason_with(sup, "minikube start timed out after 2s (cluster.start_timeout)", 30)
        assert st["state"] == "starting-cluster", st
        assert time.monotonic() - t0 < 15
        # The command and what it started are gone (SIGTERM to its process group).
        pids = [int(p) for p in (tmp_path / "start.pids").read_text().split()]
        wait_until(lambda: not any(pid_alive(p) for p in pids), 10, what="start killed")
        assert "minikube start timed out after 2s (cluster.start_timeout)" in sup.logtext()
    finally:
        sup.stop()


def test_a_start_longer_than_command_timeout_is_not_killed(tmp_path):
    sup = start(tmp_path, "  start_timeout: 1m\n  command_timeout: 1s\n", {"START_SLEEP": "3"})
    try:
        wait_until(lambda: "minikube started." in sup.logtext(), 30, what="minikube started")
        assert "timed out" not in sup.logtext()
    finally:
        sup.stop()


def test_status_runs_until_command_timeout(tmp_path):
    sup = start(tmp_path, "  start_timeout: 1m\n  command_timeout: 1s\n", {"STATUS_SLEEP": "600", "START_SLEEP": "0"})
    try:
        st = reason_with(sup, "minikube status timed out after 1s (cluster.command_timeout)", 30)
        assert st["state"] == "starting-cluster"
        # No answer is not "stopped": nothing was started on the strength of it.
        assert " start" not in (tmp_path / "calls.log").read_text()
    finally:
        sup.stop()
