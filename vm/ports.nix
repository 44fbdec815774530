# The VM's port forwards (ARCHITECTURE §4): guest port -> host port. Builtins only, so
# tests/nix/ports.sh can read it without nixpkgs and compare it with the design, the supervisor's
# minikube --ports and the manifests' NodePorts.
{
  ssh = {
    guest = 22;
    host = 22022;
  };
  hyperdx-ui = {
    guest = 8080;
    host = 28080;
  };
  hyperdx-api = {
    guest = 8000;
    host = 28000;
  };
  clickhouse-http = {
    guest = 8123;
    host = 28123;
  };
  clickhouse-native = {
    guest = 9000;
    host = 29000;
  };
  shipper-metrics = {
    guest = 2020;
    host = 22020;
  };
  supervisor-status = {
    guest = 8090;
    host = 28090;
  };
}
