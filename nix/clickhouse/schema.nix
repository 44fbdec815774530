# Picks the schema files for a ClickHouse version, by the rule the embedded endpoint uses
# (src/clickhouse-endpoint): files run in name order; below 26.2 a `<name>.compat.sql` replaces
# `<name>.sql`, from 26.2 on the `.compat.sql` files are skipped. Builtins and lib only.
{
  lib,
  runCommand,
  clickhouseVersion,
  schemaDir,
}:

let
  compat = !(lib.versionAtLeast clickhouseVersion "26.2");
  variant = if compat then "compat" else "text-index";
  entries = if builtins.pathExists schemaDir then builtins.readDir schemaDir else { };
  names = builtins.attrNames entries;
  isSql = n: entries.${n} == "regular" && lib.hasSuffix ".sql" n;
  isCompat = n: lib.hasSuffix ".compat.sql" n;
  hasCompatSibling = n: builtins.elem (lib.removeSuffix ".sql" n + ".compat.sql") names;
  selected = builtins.sort (a: b: a < b) (
    builtins.filter (
      n: isSql n && (if compat then !(hasCompatSibling n) || isCompat n else !(isCompat n))
    ) names
  );
  serverConfigName = "system-logs.xml";
in
{
  inherit variant selected;
  # /docker-entrypoint-initdb.d of the ClickHouse image.
  initdb = runCommand "otel-clickhouse-initdb-${variant}" { } (
    ''
      mkdir -p $out/docker-entrypoint-initdb.d
    ''
    + lib.concatMapStrings (n: ''
      cp ${schemaDir + "/${n}"} $out/docker-entrypoint-initdb.d/${n}
    '') selected
  );
  serverConfig =
    if builtins.hasAttr serverConfigName entries then schemaDir + "/${serverConfigName}" else null;
}
