# The VM's ports (ARCHITECTURE §4): guest port -> host port, and how the guest port is served.
#   via = "nodePort":     minikube publishes the Service's NodePort on the guest port
#                         (vm/config.yaml start_args --ports=GUEST:NODEPORT)
#   via = "port-forward": a `kubectl port-forward --address 0.0.0.0` unit (vm/default.nix) serves it
#                         from a ClusterIP Service or a DaemonSet that has no NodePort
#   via = "guest":        a guest process listens itself
# Builtins only: tests/nix/ports.sh reads it without nixpkgs and checks it against the design,
# vm/config.yaml and the manifests.
{
  ssh = {
    guest = 22;
    host = 22022;
    via = "guest";
  };
  hyperdx-ui = {
    guest = 8080;
    host = 28080;
    via = "nodePort";
    nodePort = 30808;
  };
  hyperdx-api = {
    guest = 8000;
    host = 28000;
    via = "nodePort";
    nodePort = 30800;
  };
  clickhouse-http = {
    guest = 8123;
    host = 28123;
    via = "port-forward";
    target = "service/clickhouse";
    targetPort = 8123;
  };
  clickhouse-native = {
    guest = 9000;
    host = 29000;
    via = "port-forward";
    target = "service/clickhouse";
    targetPort = 9000;
  };
  shipper-metrics = {
    guest = 2020;
    host = 22020;
    via = "port-forward";
    target = "daemonset/shipper";
    targetPort = 2020;
  };
  supervisor-status = {
    guest = 8090;
    host = 28090;
    via = "guest";
  };
}
