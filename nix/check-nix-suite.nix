# checks.<system>.nix-suite: the repository's Nix checks (tests/nix) run in the build sandbox with
# nixpkgs' nix and systemd and this flake's otel-supervisor: every .nix file parses, images.txt
# matches images.nix, the manifests the VM installs are the files the Kubernetes tests read, the
# ports agree, every QEMU forward binds 127.0.0.1 by default, the supervisor accepts the VM's config,
# and the unit verifies.
# (tests/nix/shellcheck.sh runs in CI only; shellcheck would pull GHC into this check.)
{
  runCommand,
  nix,
  systemd,
  python3,
  otel-supervisor,
  src,
}:

runCommand "otel-nix-suite"
  {
    nativeBuildInputs = [
      nix
      systemd
      python3
    ];
  }
  ''
    cp -r ${src} source
    chmod -R u+w source
    cd source
    export HOME=$TMPDIR NIX_STATE_DIR=$TMPDIR/nix-state NIX_LOG_DIR=$TMPDIR/nix-log
    for t in parse-all images-list manifests-identity ports hostfwd; do
      rc=0
      bash tests/nix/$t.sh . || rc=$?
      if [ $rc = 77 ]; then echo "$t: skipped"; elif [ $rc != 0 ]; then exit $rc; fi
    done
    bash tests/nix/supervisor-config.sh . ${otel-supervisor}/bin/otel-supervisor
    bash tests/nix/unit-verify.sh . ${otel-supervisor}/bin/otel-supervisor
    touch $out
  ''
