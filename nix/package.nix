# All C programs of the appliance: one meson project at the repository root.
{
  lib,
  stdenv,
  meson,
  ninja,
  pkg-config,
  systemdLibs,
  curl,
  libyaml,
  cjson,
  libmicrohttpd,
  zlib,
  zstd,
  criterion,
  python3,
  version,
}:

let
  root = ../.;
  fs = lib.fileset;
  # Everything meson reads; the Nix, VM and docs files stay out so that editing them does not
  # rebuild the programs.
  src = fs.toSource {
    inherit root;
    fileset = fs.difference root (
      fs.unions [
        (fs.maybeMissing ../flake.nix)
        (fs.maybeMissing ../flake.lock)
        (fs.maybeMissing ../nix)
        (fs.maybeMissing ../vm)
        (fs.maybeMissing ../docs)
        (fs.maybeMissing ../.ci)
      ]
    );
  };
  # meson test suites that need a network download or a tool the sandbox lacks.
  sandboxlessSuites = [
    "integration" # libchdb from npm (scripts/deps/chdb.sh); kube-apiserver, etcd, kwok (scripts/deps/k8s.sh)
    "storage" # libchdb
    "supervisor" # pytest, libchdb, the throwaway control plane
    "nix" # nix-instantiate, shellcheck; checks.nix-suite runs these
  ];
in
stdenv.mkDerivation {
  pname = "otel-appliance";
  inherit version src;

  nativeBuildInputs = [
    meson
    ninja
    pkg-config
  ];
  # systemdLibs is libsystemd alone (no systemd daemons), which keeps the images small.
  buildInputs = [
    systemdLibs
    curl
    libyaml
    cjson
    libmicrohttpd
    zlib
    zstd
  ];

  mesonFlags = [ (lib.mesonEnable "tests" true) ];

  doCheck = true;
  checkInputs = [ criterion ];
  nativeCheckInputs = [
    python3
    curl
  ];
  # The build sandbox has no network and none of the test-only downloads (kube-apiserver, etcd,
  # the npm libchdb), so the suites that need them are left to scripts/test.sh; every other
  # suite (unit tests, black-box program tests) runs here.
  mesonCheckFlags = [
    "--print-errorlogs"
  ]
  ++ lib.concatMap (suite: [
    "--no-suite"
    suite
  ]) sandboxlessSuites;

  passthru = { inherit sandboxlessSuites; };

  meta = {
    description = "otel appliance programs: loggen, shipper, otel-supervisor, otelctl";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
  };
}
