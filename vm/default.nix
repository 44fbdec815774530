# The appliance VM: NixOS on microvm.nix (QEMU), running docker, minikube and otel-supervisor.
# flake.nix passes `otel` (this flake's packages for the system) and `imagesData`
# (images/images.nix). docs/vm.md describes the boot; docs/nix.md the build.
{
  config,
  lib,
  pkgs,
  otel,
  imagesData,
  ...
}:

let
  # ARCHITECTURE §4: guest port -> host port.
  forwards = import ./ports.nix;
  guestPorts = lib.mapAttrs (_: f: f.guest) forwards;

  manifests = import ./manifests.nix;

  # The supervisor logs in to ClickHouse with the password the manifests give ClickHouse (the
  # clickhouse-credentials Secret's stringData.password): one credential, kept in one file.
  secretFile = ../manifests/clickhouse/secret.yaml;
  clickhousePassword =
    let
      lines = lib.splitString "\n" (builtins.readFile secretFile);
      found = lib.concatMap (
        l:
        let
          m = builtins.match "  password: \"?([^\"]+)\"?" l;
        in
        if m == null then [ ] else m
      ) lines;
    in
    if !(builtins.pathExists secretFile) then
      throw "vm: ${toString secretFile} is missing; the VM needs the ClickHouse credentials Secret"
    else if !(lib.any (l: l == "stringData:") lines) || found == [ ] then
      throw "vm: ${toString secretFile} has no stringData.password line; the VM reads the password from there"
    else
      builtins.head found;

  # One `kubectl port-forward` unit per target of vm/ports.nix's via = "port-forward" entries.
  portForwards = lib.groupBy (f: f.target) (
    lib.filter (f: f.via == "port-forward") (lib.attrValues forwards)
  );
  kubeconfig = "/var/lib/otel/supervisor/kubeconfig";
  sshKeys = import ./ssh-keys.nix;

  dockerPackage = config.virtualisation.docker.package;

  supervisorUnit = pkgs.runCommand "otel-supervisor-unit" { } ''
    mkdir -p $out/lib/systemd/system
    substitute ${./otel-supervisor.service.in} $out/lib/systemd/system/otel-supervisor.service \
      --subst-var-by OTEL_SUPERVISOR ${lib.getExe otel.otel-supervisor} \
      --subst-var-by PATH ${
        lib.makeBinPath [
          pkgs.minikube
          dockerPackage
          pkgs.kubectl
          pkgs.coreutils
          pkgs.gnugrep
          pkgs.gnused
          pkgs.findutils
          pkgs.procps
          pkgs.iproute2
        ]
      }
  '';
in
{
  system.stateVersion = "26.05";
  networking.hostName = "otel";

  microvm = {
    hypervisor = "qemu";
    mem = 8192;
    vcpu = 4;
    # The control socket lets `microvm -s`/the runner's shutdown command stop the VM cleanly.
    socket = "otel-vm.sock";

    # User networking: no root or bridge needed on the host. microvm.nix (since #553, in the pinned
    # revision) no longer advertises virtio-net multiqueue on SLIRP; with 4 vCPUs that made
    # forwarded connections stall for tens of seconds (docs/vm.md, troubleshooting).
    interfaces = [
      {
        type = "user";
        id = "usernet";
        mac = "02:00:00:01:00:01";
      }
    ];
    forwardPorts = lib.mapAttrsToList (_: f: {
      from = "host";
      host.port = f.host;
      guest.port = f.guest;
    }) forwards;

    # The host's store, read-only over 9p (QEMU has it built in, so `nix run .#vm` needs no
    # virtiofsd): the images under /var/lib/otel/images are links into it, nothing is copied.
    shares = [
      {
        proto = "9p";
        tag = "ro-store";
        source = "/nix/store";
        mountPoint = "/nix/.ro-store";
        readOnly = true;
      }
    ];

    # docker's and minikube's state (images, the node container, etcd, the ClickHouse PVC) cannot
    # live on the read-only store or the tmpfs root: /var is a disk image, created on first run in
    # the directory `nix run .#vm` is started from.
    volumes = [
      {
        mountPoint = "/var";
        image = "otel-var.img";
        size = 40 * 1024; # MiB, sparse
      }
    ];
  };

  # DHCP on the QEMU user network (10.0.2.15); docker's veth/bridges are left alone.
  networking.useNetworkd = true;
  networking.useDHCP = false;
  systemd.network.networks."10-uplink" = {
    matchConfig.Name = "en* eth*";
    networkConfig.DHCP = "ipv4";
  };
  networking.firewall = {
    enable = true;
    allowedTCPPorts = lib.attrValues guestPorts;
  };

  services.openssh = {
    enable = true;
    ports = [ guestPorts.ssh ];
    settings = {
      PasswordAuthentication = false;
      PermitRootLogin = "prohibit-password";
    };
  };
  users.users.root.openssh.authorizedKeys.keys = sshKeys;
  # The serial console is the terminal `nix run .#vm` runs in.
  services.getty.autologinUser = "root";

  virtualisation.docker = {
    enable = true;
    # minikube's node container and its volumes: on the /var disk.
    storageDriver = "overlay2";
    daemon.settings = {
      log-driver = "json-file";
      log-opts.max-size = "50m";
    };
  };

  boot.kernel.sysctl = {
    # kubelet, the shipper's inotify and HyperDX's node processes watch many files.
    "fs.inotify.max_user_watches" = 1048576;
    "fs.inotify.max_user_instances" = 1024;
  };

  users.users.otel = {
    isSystemUser = true;
    group = "otel";
    extraGroups = [ "docker" ];
    home = "/var/lib/otel";
    description = "otel appliance supervisor";
  };
  users.groups.otel = { };

  environment.systemPackages = [
    otel.otel-supervisor
    otel.otelctl
    pkgs.minikube
    pkgs.kubectl
    dockerPackage
    pkgs.curl
    pkgs.jq
  ];

  environment.etc =
    {
      "otel-supervisor/config.yaml".source = ./config.yaml;
      "otel-supervisor/clickhouse-password" = {
        text = clickhousePassword;
        mode = "0440";
        user = "root";
        group = "otel";
      };
      "otel-supervisor/README".text = ''
        otel appliance VM. Status: otelctl status (here), otelctl --host localhost:28090 status (host).
        Config: /etc/otel-supervisor/config.yaml. Manifests: /etc/otel-supervisor/manifests.
        Images: /var/lib/otel/images. minikube: sudo -u otel MINIKUBE_HOME=/var/lib/otel/minikube minikube -p otel status
        kubectl: kubectl --kubeconfig /var/lib/otel/supervisor/kubeconfig -n otel-demo get pods
      '';
    }
    // lib.optionalAttrs (manifests.files != [ ]) {
      "otel-supervisor/manifests".source = manifests.source;
    };

  # The image tarballs, loaded into the node by the supervisor (each once, by digest).
  systemd.tmpfiles.rules =
    [
      "d /var/lib/otel 0750 otel otel -"
      "d /var/lib/otel/images 0755 otel otel -"
    ]
    ++ map (role: "L+ /var/lib/otel/images/${imagesData.${role}.file} - - - - ${otel.all-images}/${imagesData.${role}.file}") (
      [
        "loggen"
        "shipper"
        "clickhouse"
      ]
      ++ lib.optional (imagesData.hyperdx.hash != null) "hyperdx"
    );

  # Guest ports served from inside the cluster without a NodePort (ClickHouse's ClusterIP Service,
  # the shipper's metrics): kubectl port-forward on all guest addresses, retried until the cluster
  # and the target exist.
  systemd.services = lib.mapAttrs' (
    target: fs:
    lib.nameValuePair "otel-forward-${baseNameOf target}" {
      description = "otel appliance: forward ${target} to the guest";
      wantedBy = [ "multi-user.target" ];
      # Not after otel-supervisor.service: its READY=1 waits for the stack to be ready, which the
      # supervisor checks through the ClickHouse forward (docs/vm.md, "Start, watchdog, stop").
      unitConfig.StartLimitIntervalSec = 0;
      serviceConfig = {
        User = "otel";
        Group = "otel";
        ExecStart = lib.escapeShellArgs (
          [
            (lib.getExe pkgs.kubectl)
            "--kubeconfig"
            kubeconfig
            "--namespace"
            "otel-demo"
            "port-forward"
            "--address"
            "0.0.0.0"
            target
          ]
          ++ map (f: "${toString f.guest}:${toString f.targetPort}") fs
        );
        # kubectl's discovery cache goes to the private /tmp.
        Environment = "HOME=/tmp";
        Restart = "always";
        RestartSec = "5s";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        ReadOnlyPaths = [ "/var/lib/otel" ];
      };
    }
  ) portForwards;

  # otel-supervisor: the unit file is vm/otel-supervisor.service.in as it is (the one
  # tests/nix/unit-verify.sh checks), only its two paths substituted.
  systemd.packages = [ supervisorUnit ];
  systemd.targets.multi-user.wants = [ "otel-supervisor.service" ];
}
