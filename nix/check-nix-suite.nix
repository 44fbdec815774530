# checks.<system>.nix-suite: the repository's Nix checks (tests/nix) run in the build sandbox with
# the flake's own nix and systemd: every .nix file parses, the supervisor unit verifies, the
# manifests the VM installs are the files the Kubernetes tests read, images.txt matches images.nix.
{
  runCommand,
  nix,
  systemd,
  python3,
  bash,
  src,
}:

runCommand "otel-nix-suite"
  {
    nativeBuildInputs = [
      nix
      systemd
      python3
      bash
    ];
  }
  ''
    cp -r ${src} source
    chmod -R u+w source
    cd source
    export HOME=$TMPDIR NIX_STATE_DIR=$TMPDIR/nix-state NIX_LOG_DIR=$TMPDIR/nix-log
    for t in tests/nix/parse-all.sh tests/nix/images-list.sh tests/nix/manifests-identity.sh tests/nix/ports.sh; do
      bash "$t" . || { rc=$?; [ $rc = 77 ] || exit $rc; echo "$t: skipped"; }
    done
    bash tests/nix/unit-verify.sh . ${bash}/bin/bash
    touch $out
  ''
