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
    install -Dm755 ${otel}/bin/${name} $out/bin/${name}
    if [ -e ${otel}/share/man/man1/${name}.1 ]; then
      install -Dm644 ${otel}/share/man/man1/${name}.1 $out/share/man/man1/${name}.1
    fi
  ''
