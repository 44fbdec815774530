#!/usr/bin/env python3
"""Packs the appliance's programs into container images without Nix: docker-archive tarballs (the
`docker save` layout: manifest.json, the config blob, one tar per layer) that `ctr images import`,
`docker load` and `minikube image load` accept.

    pack-images.py --build-dir BUILD --out DIR [--chdb-lib LIBCHDB] [ROLE...]

Roles (all by default):
  loggen, shipper        the images of images/images.nix, with its names, tags, file names, entrypoints,
                         ports, environment and user (nix/images.nix builds the same with dockerTools)
  clickhouse-endpoint    ClickHouse for a node where no clickhouse-server binary can be had: the project's
                         clickhouse-endpoint on libchdb (--chdb-lib), otel/clickhouse-endpoint:<version>;
                         it reads the manifests' clickhouse-init ConfigMap as its schema directory
  pause                  the pod sandbox's process (tests/node/pause.c), otel-node/pause:1

Each image holds its program, the program's runtime closure as the dynamic linker resolves it (ldd),
CA certificates, /etc/passwd and /etc/group with root and nobody (65534), /etc/nsswitch.conf and /tmp.
Layers are reproducible: sorted entries, mtime 0, owner root, so the same inputs give the same image ID.
Prints one line per image: ROLE FILE REFERENCE ID.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile

SOURCE_ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

PASSWD = "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def project_version():
    with open(os.path.join(SOURCE_ROOT, "meson.build")) as f:
        m = re.search(r"^\s*version\s*:\s*'([^']+)'", f.read(), re.M)
    if not m:
        sys.exit("pack-images: no version in meson.build")
    return m.group(1)


def nix_images():
    """name, tag and file of each role in images/images.nix (pure data; the tag is the project version)."""
    with open(os.path.join(SOURCE_ROOT, "images", "images.nix")) as f:
        text = f.read()
    out = {}
    for m in re.finditer(r"^  (\w+) = (?:rec )?\{(.*?)^  \};", text, re.M | re.S):
        role, body = m.group(1), m.group(2)
        fields = dict(re.findall(r'^\s+(name|tag|file) = "?([^";]+)"?;', body, re.M))
        if "name" in fields and "file" in fields:
            if fields.get("tag") == "version":
                fields["tag"] = project_version()
            out[role] = fields
    return out


def ldd_closure(path):
    """Every shared object `path` needs, as the dynamic linker resolves them, plus the linker itself."""
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    if r.returncode != 0:
        if "not a dynamic executable" in r.stdout + r.stderr:
            return []
        sys.exit(f"pack-images: ldd {path} failed: {r.stderr.strip()}")
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if "=> not found" in line:
            sys.exit(f"pack-images: {path} needs {line.split()[0]}, which is not installed")
        m = re.match(r"\S+ => (/\S+) \(0x", line) or re.match(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


class Layer:
    """A reproducible layer: files added by their path in the image."""

    def __init__(self):
        self.entries = {}  # path in image -> ("dir", mode) | ("file", mode, bytes or host path) | ("symlink", target)

    def dir(self, path, mode=0o755):
        path = path.strip("/")
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in self.entries:
                self.entries[p] = ("dir", mode if i == len(parts) else 0o755)

    def data(self, path, data, mode=0o644):
        path = path.strip("/")
        self.dir(os.path.dirname(path)) if "/" in path else None
        self.entries[path] = ("file", mode, data.encode() if isinstance(data, str) else data)

    def host_file(self, path, host_path, mode=None):
        path = path.strip("/")
        if "/" in path:
            self.dir(os.path.dirname(path))
        st = os.stat(host_path)
        self.entries[path] = ("file", mode if mode is not None else (st.st_mode & 0o777), host_path)

    def symlink(self, path, target):
        path = path.strip("/")
        if "/" in path:
            self.dir(os.path.dirname(path))
        self.entries[path] = ("symlink", target)

    def library(self, host_path):
        """A shared object at its real path, and its name as the linker found it as a symlink when the two
        differ (libfoo.so.1 -> libfoo.so.1.2.3). Debian merges /lib into /usr/lib: the image gets the
        same top-level symlinks (see base())."""
        real = os.path.realpath(host_path)
        self.host_file(real, real)
        found = os.path.normpath(host_path)
        # /lib/x86_64-linux-gnu/x -> /usr/lib/x86_64-linux-gnu/x through the merged-/usr symlinks.
        for top in ("lib", "lib64", "bin", "sbin"):
            if found.startswith(f"/{top}/") and os.path.islink(f"/{top}"):
                found = os.path.normpath(os.path.join("/", os.readlink(f"/{top}").lstrip("/"), found[len(top) + 2 :]))
        if found != real and found.strip("/") not in self.entries:
            self.symlink(found, os.path.relpath(real, os.path.dirname(found)))

    def tar(self):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
            for path in sorted(self.entries):
                e = self.entries[path]
                info = tarfile.TarInfo(path)
                info.mtime = 0
                info.uid = info.gid = 0
                info.uname = info.gname = "root"
                if e[0] == "dir":
                    info.type = tarfile.DIRTYPE
                    info.mode = e[1]
                    t.addfile(info)
                elif e[0] == "symlink":
                    info.type = tarfile.SYMTYPE
                    info.linkname = e[1]
                    info.mode = 0o777
                    t.addfile(info)
                else:
                    info.mode = e[1]
                    if isinstance(e[2], bytes):
                        info.size = len(e[2])
                        t.addfile(info, io.BytesIO(e[2]))
                    else:
                        info.size = os.path.getsize(e[2])
                        with open(e[2], "rb") as f:
                            t.addfile(info, f)
        return out.getvalue()


def base(layer):
    """What every image has besides its program."""
    for top in ("lib", "lib64", "bin", "sbin"):
        if os.path.islink(f"/{top}"):
            layer.symlink(top, os.readlink(f"/{top}").lstrip("/"))
            layer.dir(os.readlink(f"/{top}").lstrip("/"))
    layer.data("etc/passwd", PASSWD)
    layer.data("etc/group", GROUP)
    layer.data("etc/nsswitch.conf", NSSWITCH)
    if os.path.exists(CA_BUNDLE):
        layer.host_file(CA_BUNDLE.lstrip("/"), CA_BUNDLE, 0o644)
    layer.dir("tmp", 0o1777)


def program(layer, host_path, name):
    layer.host_file(f"usr/bin/{name}", host_path, 0o755)
    for lib in ldd_closure(host_path):
        layer.library(lib)
    return f"/usr/bin/{name}"


def labels(title, version):
    return {"org.opencontainers.image.title": title, "org.opencontainers.image.version": version, "org.opencontainers.image.licenses": "MIT"}


def write_archive(path, ref, layers, config, compress):
    """docker-archive: manifest.json, <config digest>.json, <layer digest>/layer.tar."""
    blobs = [l.tar() for l in layers]
    diff_ids = ["sha256:" + hashlib.sha256(b).hexdigest() for b in blobs]
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/node/pack-images.py"} for _ in blobs],
    }
    config_bytes = json.dumps(image_config, sort_keys=True, separators=(",", ":")).encode()
    config_hex = hashlib.sha256(config_bytes).hexdigest()
    name, tag = ref.rsplit(":", 1)
    manifest = [{"Config": f"{config_hex}.json", "RepoTags": [ref], "Layers": [f"{d[7:]}/layer.tar" for d in diff_ids]}]
    files = [(f"{config_hex}.json", config_bytes)]
    files += [(f"{d[7:]}/layer.tar", b) for d, b in zip(diff_ids, blobs)]
    files += [("manifest.json", json.dumps(manifest).encode()), ("repositories", json.dumps({name: {tag: diff_ids[-1][7:]}}).encode())]
    tmp = path + ".tmp"
    with open(tmp, "wb") as raw:
        out = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) if compress else raw
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for n, b in files:
                info = tarfile.TarInfo(n)
                info.size = len(b)
                info.mtime = 0
                t.addfile(info, io.BytesIO(b))
        if compress:
            out.close()
    os.rename(tmp, path)
    return "sha256:" + config_hex


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-dir", required=True, help="meson build directory holding the programs")
    ap.add_argument("--out", required=True, help="directory the archives are written to")
    ap.add_argument("--chdb-lib", default=os.environ.get("CHDB_LIB"), help="libchdb.so for the clickhouse-endpoint image")
    ap.add_argument("roles", nargs="*", default=["loggen", "shipper", "clickhouse-endpoint", "pause"])
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    version = project_version()
    nix = nix_images()
    bins = {
        "loggen": os.path.join(a.build_dir, "src", "loggen", "loggen"),
        "shipper": os.path.join(a.build_dir, "src", "shipper", "shipper"),
        "clickhouse-endpoint": os.path.join(a.build_dir, "src", "clickhouse-endpoint", "clickhouse-endpoint"),
        "pause": os.path.join(a.build_dir, "tests", "node", "pause"),
    }
    for role in a.roles:
        if role not in bins:
            sys.exit(f"pack-images: unknown role {role} (loggen, shipper, clickhouse-endpoint, pause)")
        if not os.access(bins[role], os.X_OK):
            sys.exit(f"pack-images: {bins[role]} is not built")
        layers = []
        if role == "loggen":
            ref, file, compress = f"{nix['loggen']['name']}:{nix['loggen']['tag']}", nix["loggen"]["file"], True
            layer = Layer()
            base(layer)
            exe = program(layer, bins[role], "loggen")
            config = {"Entrypoint": [exe], "ExposedPorts": {"8081/tcp": {}}, "Env": ["LOGGEN_HEALTH_PORT=8081"], "User": "65534:65534", "Labels": labels("loggen", version)}
        elif role == "shipper":
            ref, file, compress = f"{nix['shipper']['name']}:{nix['shipper']['tag']}", nix["shipper"]["file"], True
            layer = Layer()
            base(layer)
            exe = program(layer, bins[role], "shipper")
            config = {"Entrypoint": [exe], "ExposedPorts": {"2020/tcp": {}}, "Labels": labels("shipper", version)}
        elif role == "clickhouse-endpoint":
            if not a.chdb_lib or not os.path.exists(a.chdb_lib):
                sys.exit("pack-images: the clickhouse-endpoint image needs --chdb-lib (scripts/deps/chdb.sh fetches it)")
            ref, file, compress = f"otel/clickhouse-endpoint:{version}", "clickhouse-endpoint.tar", False
            # The engine in a layer of its own (~560 MB): the same bytes, the same layer, whatever the endpoint.
            chdb = Layer()
            chdb.host_file("usr/lib/otel/libchdb.so", a.chdb_lib, 0o755)
            for lib in ldd_closure(a.chdb_lib):
                chdb.library(lib)
            layers.append(chdb)
            layer = Layer()
            base(layer)
            exe = program(layer, bins[role], "clickhouse-endpoint")
            layer.dir("var/lib/clickhouse", 0o755)
            layer.dir("docker-entrypoint-initdb.d", 0o755)
            # The same settings as the StatefulSet gives clickhouse-server: the user and password from the
            # Secret (CLICKHOUSE_USER/CLICKHOUSE_PASSWORD), data on the volume, the schema from the
            # clickhouse-init ConfigMap the entrypoint of the real image runs.
            config = {
                "Entrypoint": [exe],
                "ExposedPorts": {"8123/tcp": {}},
                "Env": [
                    "CLICKHOUSE_ENDPOINT_LISTEN=0.0.0.0",
                    "CLICKHOUSE_ENDPOINT_PORT=8123",
                    "CLICKHOUSE_ENDPOINT_DATA_DIR=/var/lib/clickhouse",
                    "CLICKHOUSE_ENDPOINT_SCHEMA_DIR=/docker-entrypoint-initdb.d",
                    "CHDB_LIB=/usr/lib/otel/libchdb.so",
                ],
                "Volumes": {"/var/lib/clickhouse": {}},
                "Labels": labels("clickhouse-endpoint", version),
            }
        else:
            ref, file, compress = "otel-node/pause:1", "pause.tar", False
            layer = Layer()
            base(layer)
            exe = program(layer, bins[role], "pause")
            config = {"Entrypoint": [exe], "User": "65534:65534", "Labels": labels("pause", version)}
        layers.append(layer)
        config.setdefault("Env", [])
        config["Env"] = ["PATH=/usr/bin:/bin"] + config["Env"]
        path = os.path.join(a.out, file)
        image_id = write_archive(path, ref, layers, config, compress)
        print(f"{role} {path} {ref} {image_id}", flush=True)


if __name__ == "__main__":
    main()
