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

  # Pulled, pinned by digest: ClickStack's local HyperDX image (UI on 8080, API on 8000, no
  # MongoDB or login; its connection to our ClickHouse is configured by the manifests).
  # The manifests name it by digest, so the node pulls exactly this image (a `docker load`ed
  # archive carries no registry digest, which is why it is not pre-loaded; docs/vm.md).
  # `hash` is the Nix hash of dockerTools.pullImage's output for packages.hyperdx-image; it can
  # only be computed by pulling (docs/nix.md, "Pinning the HyperDX image"), so it stays null
  # until someone with registry access fills it in.
  hyperdx = rec {
    name = "docker.io/clickhouse/clickstack-local";
    digest = "sha256:6d0019b129a0a0b36ff9d33b7cf628be977704bf6e74814f4add06efb74cf315";
    ref = "${name}@${digest}";
    tag = "pinned";
    file = "hyperdx.tar";
    hash = null;
  };
}
