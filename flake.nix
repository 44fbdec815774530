{
  description = "otel appliance: loggen -> shipper -> ClickHouse -> HyperDX on minikube in a NixOS microVM";

  inputs = {
    # The nixpkgs revision microvm.nix's own flake.lock pins (flake.lock), so the VM runner is the
    # combination microvm.nix was tested with.
    nixpkgs.url = "github:nixos/nixpkgs/nixos-unstable";
    microvm = {
      url = "github:microvm-nix/microvm.nix";
      # microvm.nix has had no flake-utils input since 2025-12-17 (a82239c, "Replace eachSystem
      # from flake-utils with forAllSystems"); nixpkgs is its only input that needs following.
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      microvm,
    }:
    let
      inherit (nixpkgs) lib;
      # The programs build anywhere Linux does; the VM is x86_64 (KVM) only.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      imagesData = import ./images/images.nix;

      vmFor =
        system:
        lib.nixosSystem {
          inherit system;
          specialArgs = {
            otel = self.packages.${system};
            inherit imagesData;
          };
          modules = [
            microvm.nixosModules.microvm
            ./vm
          ];
        };
    in
    {
      packages = forAllSystems (
        system: pkgs:
        let
          otel = pkgs.callPackage ./nix/package.nix { inherit (imagesData) version; };
          program = name: pkgs.callPackage ./nix/program.nix { inherit name otel; };
          images = pkgs.callPackage ./nix/images.nix {
            inherit imagesData;
            loggen = program "loggen";
            shipper = program "shipper";
          };
        in
        {
          default = otel;
          otel-appliance = otel;
          loggen = program "loggen";
          shipper = program "shipper";
          otel-supervisor = program "otel-supervisor";
          otelctl = program "otelctl";

          loggen-image = images.loggen;
          shipper-image = images.shipper;
          clickhouse-image = images.clickhouse;
          # The tarballs the VM puts under /var/lib/otel/images.
          all-images = images.all;
        }
        // lib.optionalAttrs (images.hyperdx != null) { hyperdx-image = images.hyperdx; }
        // lib.optionalAttrs (images.mongodb != null) { mongodb-image = images.mongodb; }
        // lib.optionalAttrs (system == "x86_64-linux") {
          vm = self.nixosConfigurations.otel-vm.config.microvm.declaredRunner;
        }
      );

      apps = {
        x86_64-linux.vm = {
          type = "app";
          program = "${self.packages.x86_64-linux.vm}/bin/microvm-run";
          meta.description = "boot the appliance's NixOS microVM (QEMU, 8 GiB, 4 vCPU)";
        };
      };

      nixosConfigurations.otel-vm = vmFor "x86_64-linux";

      devShells = forAllSystems (
        system: pkgs: {
          default = pkgs.callPackage ./nix/devshell.nix { otel = self.packages.${system}.default; };
        }
      );

      checks = forAllSystems (
        system: pkgs:
        {
          # meson build + the hermetic meson test suites (nix/package.nix).
          otel-appliance = self.packages.${system}.default;
          images = self.packages.${system}.all-images;
          # The repository's own Nix checks (parse, unit verify, manifests identity).
          nix-suite = pkgs.callPackage ./nix/check-nix-suite.nix {
            src = ./.;
            otel-supervisor = self.packages.${system}.otel-supervisor;
          };
        }
        // lib.optionalAttrs (system == "x86_64-linux") {
          vm-toplevel = self.nixosConfigurations.otel-vm.config.system.build.toplevel;
        }
      );

      formatter = forAllSystems (system: pkgs: pkgs.nixfmt);
    };
}
