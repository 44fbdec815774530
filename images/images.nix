# The container images of the appliance, in one place. Pure data (builtins only), so that
# `nix-instantiate --eval` can read it without nixpkgs; flake.nix, the VM, the manifests tests
# (through images/images.txt, kept equal by tests/nix/images-list.sh) all use these names.
let
  # The project version is the one in meson.build, so a release bump changes every tag at once.
  lines = builtins.filter builtins.isString (builtins.split "\n" (builtins.readFile ../meson.build));
  versions = builtins.concatMap (
    l:
    let
      m = builtins.match " *version : '([^']+)',?" l;
    in
    if m == null then [ ] else m
  ) lines;
  version = builtins.head versions;
in
{
  inherit version;

  # Built by this flake with dockerTools (nix/images.nix); manifests use imagePullPolicy: Never.
  loggen = {
    name = "otel/loggen";
    tag = version;
    file = "loggen.tar.gz";
    ref = "otel/loggen:${version}";
  };
  shipper = {
    name = "otel/shipper";
    tag = version;
    file = "shipper.tar.gz";
    ref = "otel/shipper:${version}";
  };
  # nixpkgs' clickhouse-server with the schema variant that matches its version baked in.
  clickhouse = {
    name = "otel/clickhouse";
    tag = version;
    file = "clickhouse.tar.gz";
    ref = "otel/clickhouse:${version}";
  };

  # Pulled, pinned by digest (docs/vm.md): HyperDX as ClickStack documents it for your own ClickHouse —
  # the HyperDX-only image (API + app, its entry script sets IS_LOCAL_APP_MODE=REQUIRED_AUTH: a login is
  # required), and MongoDB, the state store it needs, as a workload of its own (manifests/hyperdx/). The
  # manifests name them by digest, so the node pulls exactly these (a `docker load`ed archive carries no
  # registry digest, which is why they are not pre-loaded).
  # The digests (linux/amd64 manifests of hyperdx 2.35.0, upstream's MongoDB 5.0.32-focal) could not be
  # read from the registries here (docs/nix.md, "Pinning the pulled images"); `hash`, the Nix hash of
  # dockerTools.pullImage's output, can only be computed by pulling, so it stays null until someone with
  # registry access fills it in.
  hyperdx = rec {
    name = "docker.hyperdx.io/hyperdx/hyperdx";
    tag = "2.35.0";
    digest = "sha256:8393af3d166b59778171e8bd78f0e0175c2053e5a39c85c8452520ede0d08ea5";
    ref = "${name}@${digest}";
    file = "hyperdx.tar";
    hash = null;
  };
  mongodb = rec {
    name = "docker.io/library/mongo";
    tag = "5.0.32-focal";
    digest = "sha256:b2ace5ddbeb6d2e035aab54c486b8145bef83cff7bc3d518598b8449db74f3aa";
    ref = "${name}@${digest}";
    file = "mongodb.tar";
    hash = null;
  };
}
