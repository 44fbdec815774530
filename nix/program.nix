# One program out of the meson build, alone: its closure is the binary and the libraries it links,
# not the other programs (this is what goes into the OCI images).
{
  runCommand,
  otel,
  name,
}:

runCommand "${name}-${otel.version}"
  {
    meta = otel.meta // {
      mainProgram = name;
    };
  }
  ''
    # meson installs the daemon to sbindir; every program lands in bin/ here.
    for dir in bin sbin; do
      if [ -e ${otel}/$dir/${name} ]; then
        install -Dm755 ${otel}/$dir/${name} $out/bin/${name}
      fi
    done
    [ -e $out/bin/${name} ] || { echo "${name} is not in ${otel}/bin or sbin" >&2; exit 1; }
    for page in ${otel}/share/man/man*/${name}.*; do
      [ -e "$page" ] || continue
      install -Dm644 "$page" $out/share/man/$(basename "$(dirname "$page")")/$(basename "$page")
    done
  ''
