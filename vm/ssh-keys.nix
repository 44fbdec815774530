# Public keys allowed to log in as root over ssh (host port 22022). Add yours, then `git add` this
# file (a flake sees only tracked files) and rebuild: nix run .#vm
[
]
