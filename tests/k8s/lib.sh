# shellcheck shell=bash
# shellcheck disable=SC2154 # $here and $dir are set by the script that sources this file
# What control-plane.sh and node.sh both do, sourced by each (they set $here and $dir first): a free port,
# a client or serving certificate from the test CA in $dir/pki, a kubeconfig for one of those users.

free_port() {
  python3 "$here/free-port.py"
}

gen_cert() { # name subject [extensions]
  local name=$1 subj=$2 ext=${3:-extendedKeyUsage=clientAuth}
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/pki/$name.key" -out "$dir/pki/$name.csr" -subj "$subj" 2>/dev/null
  printf '%s\n' "$ext" | tr ';' '\n' >"$dir/pki/$name.ext"
  openssl x509 -req -in "$dir/pki/$name.csr" -CA "$dir/pki/ca.crt" -CAkey "$dir/pki/ca.key" \
    -CAcreateserial -days 7 -sha256 -extfile "$dir/pki/$name.ext" \
    -out "$dir/pki/$name.crt" 2>/dev/null
  rm -f "$dir/pki/$name.csr" "$dir/pki/$name.ext"
}

write_kubeconfig() { # file user
  local port
  port=$(cat "$dir/api-port")
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: otel-test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $dir/pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $dir/pki/$2.crt
    client-key: $dir/pki/$2.key
contexts:
- name: otel-test
  context:
    cluster: otel-test
    user: $2
current-context: otel-test
EOF
}
