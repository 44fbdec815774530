# OCI images (docker-archive tarballs) of the appliance. Ours hold only the closure of their
# entrypoint: no shell, no base image.
{
  lib,
  stdenv,
  dockerTools,
  runCommand,
  writeShellApplication,
  clickhouse,
  coreutils,
  loggen,
  shipper,
  imagesData,
}:

let
  schema = import ./clickhouse/schema.nix {
    inherit lib runCommand;
    clickhouseVersion = clickhouse.version;
    schemaDir = ../manifests/clickhouse/schema;
  };

  clickhouseEntrypoint = writeShellApplication {
    name = "otel-clickhouse-entrypoint";
    runtimeInputs = [
      clickhouse
      coreutils
    ];
    text = builtins.readFile ./clickhouse/entrypoint.sh;
    # shellcheck runs on this script in CI (tests/nix/shellcheck.sh); here a syntax check is
    # enough, and it keeps GHC out of the image's build closure.
    checkPhase = ''
      ${stdenv.shellDryRun} "$target"
    '';
  };

  labels = name: {
    "org.opencontainers.image.title" = name;
    "org.opencontainers.image.version" = imagesData.version;
    "org.opencontainers.image.licenses" = "MIT";
  };

  loggenImage = dockerTools.buildLayeredImage {
    inherit (imagesData.loggen) name tag;
    config = {
      Entrypoint = [ (lib.getExe loggen) ];
      ExposedPorts."8081/tcp" = { };
      Env = [ "LOGGEN_HEALTH_PORT=8081" ];
      User = "65534:65534";
      Labels = labels "loggen";
    };
  };

  shipperImage = dockerTools.buildLayeredImage {
    inherit (imagesData.shipper) name tag;
    # The shipper reads /var/log/containers and keeps its checkpoint on a hostPath; both come from
    # the DaemonSet's volumes, so the image needs nothing but the program.
    config = {
      Entrypoint = [ (lib.getExe shipper) ];
      ExposedPorts."2020/tcp" = { };
      Labels = labels "shipper";
    };
  };

  clickhouseImage = dockerTools.buildLayeredImage {
    inherit (imagesData.clickhouse) name tag;
    contents = [ schema.initdb ];
    # Writable directories the server and the entrypoint need (the store is read-only).
    extraCommands = ''
      mkdir -p tmp var/lib/clickhouse etc/clickhouse-server/config.d
      chmod 1777 tmp
      cp ${clickhouse}/etc/clickhouse-server/config.xml etc/clickhouse-server/config.xml
      cp ${./clickhouse/otel.xml} etc/clickhouse-server/config.d/00-otel.xml
      ${lib.optionalString (schema.serverConfig != null) ''
        cp ${schema.serverConfig} etc/clickhouse-server/config.d/system-logs.xml
      ''}
    '';
    config = {
      Entrypoint = [ (lib.getExe clickhouseEntrypoint) ];
      ExposedPorts = {
        "8123/tcp" = { };
        "9000/tcp" = { };
      };
      Volumes."/var/lib/clickhouse" = { };
      Labels = labels "clickhouse" // {
        "io.otel-appliance.clickhouse.version" = clickhouse.version;
        "io.otel-appliance.clickhouse.schema" = schema.variant;
      };
    };
  };

  # A pinned pulled image, once its Nix hash is known (images/images.nix).
  pulled =
    role:
    if imagesData.${role}.hash == null then
      null
    else
      dockerTools.pullImage {
        imageName = imagesData.${role}.name;
        imageDigest = imagesData.${role}.digest;
        inherit (imagesData.${role}) hash;
        finalImageName = imagesData.${role}.name;
        finalImageTag = imagesData.${role}.tag;
        os = "linux";
        arch = "amd64";
      };
  hyperdxImage = pulled "hyperdx";
  mongodbImage = pulled "mongodb";
in
{
  loggen = loggenImage;
  shipper = shipperImage;
  clickhouse = clickhouseImage;
  hyperdx = hyperdxImage;
  mongodb = mongodbImage;
  inherit schema;

  # The directory the VM links to /var/lib/otel/images: one tarball per image, named as
  # images/images.nix says.
  all = runCommand "otel-images-${imagesData.version}" { } ''
    mkdir -p $out
    ln -s ${loggenImage} $out/${imagesData.loggen.file}
    ln -s ${shipperImage} $out/${imagesData.shipper.file}
    ln -s ${clickhouseImage} $out/${imagesData.clickhouse.file}
    ${lib.optionalString (hyperdxImage != null) "ln -s ${hyperdxImage} $out/${imagesData.hyperdx.file}"}
    ${lib.optionalString (mongodbImage != null) "ln -s ${mongodbImage} $out/${imagesData.mongodb.file}"}
  '';
}
