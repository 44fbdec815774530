# QEMU's port forwards (microvm.forwardPorts) from vm/ports.nix. Every forward binds hostAddress on the
# host: 127.0.0.1 unless the user opts in with the VM's one setting for it, otel.vm.hostAddress
# (docs/vm.md, "Reaching the VM from other machines"). microvm.nix's QEMU runner turns each entry into
# `hostfwd=tcp:<host.address>:<host.port>-:<guest.port>`; with an empty host.address QEMU would listen
# on every host interface. Builtins only: tests/nix/hostfwd.sh evaluates it without nixpkgs.
{
  hostAddress ? "127.0.0.1",
}:
let
  ports = import ./ports.nix;
in
if hostAddress == "" then
  throw "vm/forwards.nix: an empty host address binds every interface; say 0.0.0.0 to mean it"
else
  map (name: {
    from = "host";
    proto = "tcp";
    host = {
      address = hostAddress;
      port = ports.${name}.host;
    };
    guest.port = ports.${name}.guest;
  }) (builtins.attrNames ports)
