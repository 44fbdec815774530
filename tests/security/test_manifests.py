# SPDX-License-Identifier: MIT
"""The Kubernetes manifests as applied (every YAML document under manifests/, the $(VAR) references expanded
as Kubernetes expands them): HyperDX is the UI alone, logs in to our ClickHouse as the reader and has its
preset source on a connection that exists; ClickHouse's users are least privilege; no Secret and no password
is in them (docs/security.md)."""
import glob
import json
import os
import re
import sys
import unittest
import xml.etree.ElementTree as ET

import yaml

ROOT = os.environ.get("SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..")


def load_manifests():
    docs = []
    for path in sorted(glob.glob(os.path.join(ROOT, "manifests", "**", "*.y*ml"), recursive=True)):
        if os.path.basename(path).startswith("."):
            continue
        with open(path) as f:
            for doc in yaml.safe_load_all(f):
                if doc:
                    docs.append((os.path.relpath(path, ROOT), doc))
    return docs


DOCS = load_manifests()


def find(kind, name):
    for _, d in DOCS:
        if d.get("kind") == kind and d.get("metadata", {}).get("name") == name:
            return d
    raise AssertionError(f"{kind}/{name} is not in manifests/")


def containers(workload):
    spec = workload["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec.get("containers", [])


def expanded_env(container):
    """name -> value with $(VAR) expanded from the variables before it; a secretKeyRef stands for itself as
    SECRET(<secret>/<key>), so what a value is built from can be checked."""
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), e["value"])
        elif "secretKeyRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = f"SECRET({ref['name']}/{ref['key']})"
    return env


def users_xml():
    cm = find("ConfigMap", "clickhouse-config")
    return ET.fromstring(cm["data"]["otel-users.xml"])


class HyperDXTest(unittest.TestCase):
    def setUp(self):
        self.dep = find("Deployment", "hyperdx")
        self.cs = containers(self.dep)
        self.env = expanded_env(self.cs[0])

    def test_the_ui_alone_in_its_pod(self):
        # One container, the HyperDX-only image (API + app); nothing of ClickStack's all-in-one images, no
        # second ClickHouse, MongoDB or collector in the pod.
        self.assertEqual(len(self.cs), 1, [c["name"] for c in self.cs])
        image = self.cs[0]["image"]
        self.assertTrue(image.startswith("docker.hyperdx.io/hyperdx/hyperdx@sha256:"), image)
        for c in self.cs:
            for bad in ("clickstack-local", "all-in-one", "clickhouse-server", "otel-collector", "otelcol", "mongo"):
                self.assertNotIn(bad, c["image"], c["name"])
            ports = {p["containerPort"] for p in c.get("ports", [])}
            self.assertEqual(ports, {8080, 8000}, c["name"])
            self.assertNotIn("command", c, "the image's own entry script (REQUIRED_AUTH) must run")
            self.assertNotIn("args", c)
        self.assertEqual(sorted(self.dep["spec"]["template"]["spec"].get("volumes", [])), [])
        # The login stays required: nothing switches the API to its no-login local mode.
        self.assertNotIn("IS_LOCAL_APP_MODE", self.env)
        self.assertFalse(any("DANGEROUSLY" in v for v in self.env.values()))

    def test_state_in_its_own_mongodb_with_a_volume(self):
        self.assertEqual(self.env["MONGO_URI"],
                         "mongodb://hyperdx:SECRET(hyperdx-credentials/mongodb-password)"
                         "@hyperdx-mongodb.otel-demo.svc:27017/hyperdx?authSource=admin")
        mongo = find("Deployment", "hyperdx-mongodb")
        mc = containers(mongo)
        self.assertEqual(len(mc), 1)
        self.assertIn("/mongo@sha256:", mc[0]["image"])
        menv = expanded_env(mc[0])
        self.assertEqual(menv["MONGO_INITDB_ROOT_USERNAME"], "hyperdx")
        self.assertEqual(menv["MONGO_INITDB_ROOT_PASSWORD"], "SECRET(hyperdx-credentials/mongodb-password)")
        vols = mongo["spec"]["template"]["spec"]["volumes"]
        claim = vols[0]["persistentVolumeClaim"]["claimName"]
        find("PersistentVolumeClaim", claim)
        self.assertEqual(mc[0]["volumeMounts"][0]["mountPath"], "/data/db")
        svc = find("Service", "hyperdx-mongodb")
        self.assertEqual(svc["spec"]["ports"][0]["port"], 27017)
        self.assertEqual(svc["spec"]["type"], "ClusterIP")

    def test_session_secret_is_not_the_default(self):
        self.assertEqual(self.env["EXPRESS_SESSION_SECRET"], "SECRET(hyperdx-credentials/session-secret)")

    def test_preset_sources_name_existing_connections(self):
        conns = json.loads(self.env["DEFAULT_CONNECTIONS"])
        srcs = json.loads(self.env["DEFAULT_SOURCES"])
        self.assertGreaterEqual(len(conns), 1)
        self.assertGreaterEqual(len(srcs), 1)
        names = {c["name"] for c in conns}
        self.assertEqual(len(names), len(conns), "connection names are what sources refer to: unique")
        source_names = {s["name"] for s in srcs}
        for s in srcs:
            # setupTeamDefaults resolves a source's connection by name and skips the source otherwise.
            self.assertIn(s["connection"], names, s["name"])
            for ref in ("logSourceId", "traceSourceId", "sessionSourceId", "metricSourceId"):
                if ref in s:
                    self.assertIn(s[ref], source_names, f"{s['name']}.{ref}")
        logs = next(s for s in srcs if s["kind"] == "log")
        self.assertEqual(logs["from"], {"databaseName": "default", "tableName": "otel_logs"})

    def test_credentials_are_the_readers(self):
        for c in json.loads(self.env["DEFAULT_CONNECTIONS"]):
            self.assertEqual(c["host"], "http://clickhouse.otel-demo.svc:8123")
            self.assertEqual(c["username"], "otel_reader")
            self.assertEqual(c["password"], "SECRET(clickhouse-credentials/reader-password)")
        # ... and the reader in ClickHouse may read, not write.
        reader = users_xml().find("users/otel_reader")
        grants = [q.text for q in reader.findall("grants/query")]
        self.assertTrue(all(g.startswith("GRANT SELECT") or g.startswith("GRANT CREATE TEMPORARY TABLE") for g in grants), grants)
        profile = reader.findtext("profile")
        self.assertEqual(users_xml().findtext(f"profiles/{profile}/readonly"), "2")


class ClickHouseUsersTest(unittest.TestCase):
    def test_least_privilege(self):
        users = users_xml().find("users")
        self.assertEqual(sorted(u.tag for u in users), ["otel_admin", "otel_ingest", "otel_reader"])
        for u in users:
            self.assertIsNone(u.find("access_management"), u.tag)
            pw = u.find("password")
            self.assertEqual(pw.attrib, {"from_env": f"CLICKHOUSE_{u.tag[5:].upper()}_PASSWORD"}, u.tag)
            self.assertFalse((pw.text or "").strip(), u.tag)
            nets = [ip.text for ip in u.findall("networks/ip")]
            self.assertNotIn("::/0", nets, u.tag)
            self.assertNotIn("0.0.0.0/0", nets, u.tag)
        admin = users.find("otel_admin")
        self.assertEqual(sorted(ip.text for ip in admin.findall("networks/ip")), ["127.0.0.1", "::1"])
        ingest = [q.text for q in users.find("otel_ingest").findall("grants/query")]
        self.assertEqual(sorted(ingest), ["GRANT INSERT ON default.metrics_raw", "GRANT INSERT ON default.otel_logs"])
        # Each password variable is filled from the Secret the supervisor creates.
        env = expanded_env(containers(find("StatefulSet", "clickhouse"))[0])
        for who in ("admin", "ingest", "reader"):
            self.assertEqual(env[f"CLICKHOUSE_{who.upper()}_PASSWORD"], f"SECRET(clickhouse-credentials/{who}-password)")
        # The shipper inserts as otel_ingest.
        shipper = expanded_env(containers(find("DaemonSet", "shipper"))[0])
        self.assertEqual((shipper["SHIPPER_USER"], shipper["SHIPPER_PASSWORD"]),
                         ("otel_ingest", "SECRET(clickhouse-credentials/ingest-password)"))

    def test_no_outbound_hosts(self):
        server = ET.fromstring(find("ConfigMap", "clickhouse-config")["data"]["otel-server.xml"])
        allow = server.find("remote_url_allow_hosts")
        self.assertIsNotNone(allow)
        self.assertEqual(len(list(allow)), 0)


class NoSecretsTest(unittest.TestCase):
    # What a password written into a file looks like (a value after a password-ish key).
    LITERAL = re.compile(r"""(?ix)
        [\w.-]*(password|passwd|secret|token)["']?\s*[:=]\s*["']?
        (?!\$|SECRET\(|true\b|false\b|null\b|none\b|["']?\s*$)[^\s"'<>;,]{6,}
      | <password>\s*[^<\s]+\s*</password>
      | <password_sha256_hex>
      | stringData\s*:""")

    def test_no_secret_object(self):
        for path, d in DOCS:
            self.assertNotEqual(d.get("kind"), "Secret", f"{path}: {d.get('metadata', {}).get('name')}")

    def test_no_password_like_literal(self):
        hits = []
        for pattern in ("manifests/**/*.y*ml", "vm/*", "nix/**/*", "config/*", "images/*"):
            for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
                if not os.path.isfile(path):
                    continue
                with open(path, errors="replace") as f:
                    for n, line in enumerate(f, 1):
                        if line.lstrip().startswith(("#", "//", "--")):
                            continue
                        for m in self.LITERAL.finditer(line):
                            hits.append(f"{os.path.relpath(path, ROOT)}:{n}: {m.group(0)}")
        self.assertEqual(hits, [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
