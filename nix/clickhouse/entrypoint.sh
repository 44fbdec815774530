# Entrypoint of the otel/clickhouse image (wrapped by writeShellApplication: bash, set -euo pipefail).
# Environment, as the official clickhouse-server image reads it:
#   CLICKHOUSE_USER            the image's user (default: otel)
#   CLICKHOUSE_PASSWORD        its password, or CLICKHOUSE_PASSWORD_FILE naming a file with it;
#                              an empty password is refused
#   CLICKHOUSE_DB              a database to create besides default (optional)
#   CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT  1 (default) or 0: whether that user may manage users
#   CLICKHOUSE_CONFIG_DIR      where the runtime configuration is assembled (default: /tmp/clickhouse-server)
# The configuration is nixpkgs' stock config.xml with /etc/clickhouse-server/config.d/*.xml, and a
# users.xml holding only CLICKHOUSE_USER (password from the environment) with
# /etc/clickhouse-server/users.d/*.xml merged over it; the stock users.xml (a default user without
# password) is never used. On the first start every /docker-entrypoint-initdb.d/*.sql runs once, in
# name order, against a server listening on 127.0.0.1 only; then the server starts for real.

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
# The users' configuration reads it from the environment (from_env), never from a file on disk.
export CLICKHOUSE_PASSWORD="$password"
case $user in
'' | *[!A-Za-z0-9_]*)
	echo "otel-clickhouse: CLICKHOUSE_USER='$user' must be letters, digits and _" >&2
	exit 2
	;;
esac
db=${CLICKHOUSE_DB:-}
case $db in
*[!A-Za-z0-9_]*)
	echo "otel-clickhouse: CLICKHOUSE_DB='$db' must be letters, digits and _" >&2
	exit 2
	;;
esac
access=${CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT:-1}
case $access in
0 | 1) ;;
*)
	echo "otel-clickhouse: CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT='$access' must be 0 or 1" >&2
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
    <users>
        <$user>
            <password from_env="CLICKHOUSE_PASSWORD"/>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <access_management>$access</access_management>
        </$user>
    </users>
</clickhouse>
XML

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
