# Entrypoint of the otel/clickhouse image (wrapped by writeShellApplication: bash, set -euo pipefail).
# Environment:
#   CLICKHOUSE_ADMIN_PASSWORD   otel_admin's password (or CLICKHOUSE_ADMIN_PASSWORD_FILE naming a file
#                               with it); the init scripts run as otel_admin
#   CLICKHOUSE_INGEST_PASSWORD  otel_ingest's (or ..._FILE)
#   CLICKHOUSE_READER_PASSWORD  otel_reader's (or ..._FILE)
#   CLICKHOUSE_DB               a database to create besides default (optional)
#   CLICKHOUSE_CONFIG_DIR       where the runtime configuration is assembled (default: /tmp/clickhouse-server)
# Each password must be set and not empty. The users themselves (otel_admin, otel_ingest, otel_reader, their
# grants and networks) are defined in /etc/clickhouse-server/users.d/ (the manifests' ConfigMap), which
# reads the passwords from these variables (from_env); the users.xml written here holds only the default
# profile and quota, so the stock users.xml (a default user without password) is never used and no user
# exists that the configuration does not name. On the first start every /docker-entrypoint-initdb.d/*.sql
# runs once, in name order, as otel_admin against a server listening on 127.0.0.1 only; then the server
# starts for real.

# Reads $1 (the variable's name) or the file named by ${1}_FILE; refuses an empty value. The users'
# configuration reads the variable (from_env), never a file on disk.
read_password() {
	local name=$1 file_var="${1}_FILE" value
	value=${!name:-}
	if [ -z "$value" ] && [ -n "${!file_var:-}" ]; then
		if ! value=$(cat -- "${!file_var}"); then
			echo "otel-clickhouse: cannot read $file_var=${!file_var}" >&2
			exit 2
		fi
	fi
	if [ -z "$value" ]; then
		echo "otel-clickhouse: $name (or $file_var) must be set and not empty" >&2
		exit 2
	fi
	export "$name=$value"
}
read_password CLICKHOUSE_ADMIN_PASSWORD
read_password CLICKHOUSE_INGEST_PASSWORD
read_password CLICKHOUSE_READER_PASSWORD
user=otel_admin
password=$CLICKHOUSE_ADMIN_PASSWORD
db=${CLICKHOUSE_DB:-}
case $db in
*[!A-Za-z0-9_]*)
	echo "otel-clickhouse: CLICKHOUSE_DB='$db' must be letters, digits and _" >&2
	exit 2
	;;
esac

confdir=${CLICKHOUSE_CONFIG_DIR:-/tmp/clickhouse-server}
datadir=/var/lib/clickhouse
rm -rf "$confdir"
mkdir -p "$confdir/config.d" "$datadir"
cp /etc/clickhouse-server/config.xml "$confdir/config.xml"
for f in /etc/clickhouse-server/config.d/*.xml; do
	[ -e "$f" ] || continue
	cp "$f" "$confdir/config.d/"
done
for f in /etc/clickhouse-server/users.d/*.xml; do
	[ -e "$f" ] || continue
	mkdir -p "$confdir/users.d"
	cp "$f" "$confdir/users.d/"
done
cat >"$confdir/users.xml" <<XML
<clickhouse>
    <profiles><default/></profiles>
    <quotas><default/></quotas>
    <users/>
</clickhouse>
XML
if ! grep -qs "<$user>" "$confdir"/users.d/*.xml; then
	echo "otel-clickhouse: no users.d/*.xml defines $user (the manifests' clickhouse-config ConfigMap)" >&2
	exit 2
fi

marker=$datadir/.otel-initdb-done
if [ ! -e "$marker" ] && compgen -G "/docker-entrypoint-initdb.d/*.sql" >/dev/null; then
	clickhouse-server --config-file="$confdir/config.xml" -- --listen_host=127.0.0.1 &
	pid=$!
	tries=0
	until clickhouse-client --host 127.0.0.1 --user "$user" --password "$password" --query "SELECT 1" >/dev/null 2>&1; do
		tries=$((tries + 1))
		if [ $tries -ge 120 ] || ! kill -0 $pid 2>/dev/null; then
			echo "otel-clickhouse: the init server did not answer within 120 s" >&2
			kill $pid 2>/dev/null || true
			exit 1
		fi
		sleep 1
	done
	if [ -n "$db" ]; then
		clickhouse-client --host 127.0.0.1 --user "$user" --password "$password" --query "CREATE DATABASE IF NOT EXISTS $db"
	fi
	for f in /docker-entrypoint-initdb.d/*.sql; do
		echo "otel-clickhouse: running $f"
		clickhouse-client --host 127.0.0.1 --user "$user" --password "$password" --multiquery <"$f"
	done
	kill $pid
	wait $pid || true
	touch "$marker"
fi

exec clickhouse-server --config-file="$confdir/config.xml"
