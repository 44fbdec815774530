# The tools the README and docs/ use: build, tests, formatting, the VM and the cluster.
{
  mkShell,
  otel,
  clang-tools,
  clang,
  gdb,
  valgrind,
  python3,
  curl,
  jq,
  kubectl,
  minikube,
  docker-client,
  nixfmt,
  shellcheck,
  systemd,
}:

mkShell {
  name = "otel-appliance-dev";
  # meson, ninja, pkg-config and every library come from the package itself.
  inputsFrom = [ otel ];
  packages = [
    clang
    clang-tools # clang-format for scripts/check-format.sh
    gdb
    valgrind
    python3
    curl
    jq
    kubectl
    minikube
    docker-client
    nixfmt
    shellcheck
    systemd # systemd-analyze verify for tests/nix
  ];
  shellHook = ''
    echo "otel appliance dev shell: meson setup build && ninja -C build && meson test -C build"
    echo "  nix build .#all-images   nix run .#vm   (docs/nix.md, docs/vm.md)"
  '';
}
