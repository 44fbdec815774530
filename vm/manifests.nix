# The Kubernetes manifests the VM installs: every *.yaml/*.yml file under manifests/, as they are in
# the repository, chosen by the rule the supervisor and the Kubernetes tests load them with
# (k8s_manifest_set_add_dir: recursive, entries starting with '.' skipped). Builtins only, so tests/nix/manifests-identity.sh can evaluate it with
# `nix-instantiate --eval` and compare it file by file (sha256) with what the Kubernetes tests
# validate.
let
  root = ../manifests;
  isManifest = name: builtins.match "[^.].*\\.ya?ml" name != null;
  visible = name: builtins.substring 0 1 name != ".";
  walk =
    dir: rel:
    let
      entries = builtins.readDir dir;
    in
    builtins.concatMap (
      name:
      let
        type = entries.${name};
        path = dir + "/${name}";
        relPath = if rel == "" then name else "${rel}/${name}";
      in
      if type == "directory" then
        walk path relPath
      else if type == "regular" && isManifest name then
        [ relPath ]
      else
        [ ]
    ) (builtins.filter visible (builtins.attrNames entries));
  files = if builtins.pathExists root then walk root "" else [ ];
in
{
  inherit files;
  # The store copy the VM links to /etc/otel-supervisor/manifests: the same files, nothing else.
  source = builtins.path {
    path = root;
    name = "otel-manifests";
    filter =
      path: type:
      visible (baseNameOf path)
      && (type == "directory" || (type == "regular" && isManifest (baseNameOf path)));
  };
  sha256 = builtins.listToAttrs (
    map (f: {
      name = f;
      value = builtins.hashFile "sha256" (root + "/${f}");
    }) files
  );
}
