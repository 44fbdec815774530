# Entrypoint of the otel/clickhouse image (wrapped by writeShellApplication: bash, set -euo pipefail).
# Environment, as the official clickhouse-server image reads it:
#   CLICKHOUSE_USER            the one user (default: otel)
#   CLICKHOUSE_PASSWORD        its password, or CLICKHOUSE_PASSWORD_FILE naming a file with it;
#                              an empty password is refused
#   CLICKHOUSE_CONFIG_DIR      where the runtime configuration is assembled (default: /tmp/clickhouse-server)
# On the first start with an empty data directory every /docker-entrypoint-initdb.d/*.sql runs once,
# against a server listening on 127.0.0.1 only; then the server is started for real.

user=${CLICKHOUSE_USER:-otel}
password=${CLICKHOUSE_PASSWORD:-}
if [ -z "$password" ] && [ -n "${CLICKHOUSE_PASSWORD_FILE:-}" ]; then
	if ! password=$(cat -- "$CLICKHOUSE_PASSWORD_FILE"); then
		echo "otel-clickhouse: cannot read CLICKHOUSE_PASSWORD_FILE=$CLICKHOUSE_PASSWORD_FILE" >&2
		exit 2
	fi
fi
if [ -z "$password" ]; then
	echo "otel-clickhouse: CLICKHOUSE_PASSWORD (or CLICKHOUSE_PASSWORD_FILE) must be set and not empty" >&2
	exit 2
fi
case $user in
'' | *[!A-Za-z0-9_]*)
	echo "otel-clickhouse: CLICKHOUSE_USER='$user' must be letters, digits and _" >&2
	exit 2
	;;
esac

confdir=${CLICKHOUSE_CONFIG_DIR:-/tmp/clickhouse-server}
datadir=/var/lib/clickhouse
rm -rf "$confdir"
mkdir -p "$confdir/config.d" "$datadir"
cp /etc/clickhouse-server/config.xml "$confdir/config.xml"
for f in /etc/clickhouse-server/config.d/*.xml; do
	[ -e "$f" ] && cp "$f" "$confdir/config.d/"
done
hash=$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)
umask 077
cat >"$confdir/users.xml" <<XML
<clickhouse>
    <profiles><default/></profiles>
    <quotas><default/></quotas>
    <users>
        <$user>
            <password_sha256_hex>$hash</password_sha256_hex>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <access_management>1</access_management>
        </$user>
    </users>
</clickhouse>
XML
umask 022

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
	for f in /docker-entrypoint-initdb.d/*.sql; do
		echo "otel-clickhouse: running $f"
		clickhouse-client --host 127.0.0.1 --user "$user" --password "$password" --multiquery <"$f"
	done
	kill $pid
	wait $pid || true
	touch "$marker"
fi

exec clickhouse-server --config-file="$confdir/config.xml"
