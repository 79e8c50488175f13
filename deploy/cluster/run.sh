#!/usr/bin/env bash
# A StreamHouse cluster on this machine in one command, for trying the
# cluster mode: a PostgreSQL server of its own (initdb in the state
# directory, port 55432), an S3 server (versitygw over a directory, port
# 57000) and 3 brokers on 127.0.0.1:19092, :19093 and :19094, all on
# loopback. Ctrl-C (or SIGTERM) stops everything; the state directory
# (default ./cluster-state) is kept for the next run, remove it to start
# afresh.
#
# Needs: PostgreSQL's server binaries (initdb, pg_ctl: Debian's
# postgresql-15 package puts them in /usr/lib/postgresql/15/bin), versitygw
# (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0) and Go to
# build the broker. Try it with:
#   kcat -L -b 127.0.0.1:19092                       # 3 brokers
#   kcat -P -b 127.0.0.1:19092 -t demo <<< hello
#   kcat -C -b 127.0.0.1:19093 -t demo -e
#   kill -9 <a broker's pid> and watch its partitions move (kcat -L)
set -euo pipefail

STATE=${STATE:-$PWD/cluster-state}
PGPORT=${PGPORT:-55432}
S3PORT=${S3PORT:-57000}
BASEPORT=${BASEPORT:-19092}
REPO=$(cd "$(dirname "$0")/../.." && pwd)

pgbin=$(dirname "$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
command -v versitygw >/dev/null || PATH=$PATH:$(go env GOPATH)/bin
command -v versitygw >/dev/null || { echo "versitygw not found: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0" >&2; exit 1; }

mkdir -p "$STATE"/{pg,s3/streamhouse,logs}
pids=()
cleanup() {
	echo "stopping..."
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait "${pids[@]}" 2>/dev/null || true
	"${as[@]}" "$pgbin/pg_ctl" -D "$STATE/pg" -m fast stop >/dev/null 2>&1 || true
}
# PostgreSQL: a server of its own, trusting local connections. As root
# (initdb refuses it) it runs as the postgres user.
as=()
if [ "$(id -u)" = 0 ]; then
	chown -R postgres "$STATE/pg"
	as=(runuser -u postgres --)
fi
trap cleanup EXIT INT TERM
if [ ! -f "$STATE/pg/PG_VERSION" ]; then
	"${as[@]}" "$pgbin/initdb" -D "$STATE/pg" -U streamhouse --auth=trust >/dev/null
fi
"${as[@]}" "$pgbin/pg_ctl" -D "$STATE/pg" -l "$STATE/pg/server.log" -o "-p $PGPORT -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null
DATABASE_URL="postgres://streamhouse@127.0.0.1:$PGPORT/postgres?sslmode=disable"

# The S3 server: the bucket is a directory of its root.
export AWS_ACCESS_KEY_ID=streamhouse AWS_SECRET_ACCESS_KEY=streamhouse-secret AWS_REGION=us-east-1
versitygw --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --port "127.0.0.1:$S3PORT" posix "$STATE/s3" >"$STATE/logs/s3.log" 2>&1 &
pids+=($!)

(cd "$REPO" && go build -o "$STATE/streamhouse" ./cmd/streamhouse)
for node in 1 2 3; do
	port=$((BASEPORT + node - 1))
	"$STATE/streamhouse" --node-id "$node" --listen "127.0.0.1:$port" --data-dir "$STATE/broker-$node" \
		--http-listen "127.0.0.1:$((9643 + node))" --schema-registry-listen "" \
		--metadata postgres --database-url "$DATABASE_URL" \
		--storage s3 --s3-endpoint "http://127.0.0.1:$S3PORT" --s3-bucket streamhouse \
		--broker.rack "rack-$node" --log-format text >"$STATE/logs/broker-$node.log" 2>&1 &
	pids+=($!)
	echo "broker $node: 127.0.0.1:$port (pid $!, log $STATE/logs/broker-$node.log, console http://127.0.0.1:$((9643 + node)))"
done
echo "bootstrap: 127.0.0.1:$BASEPORT,127.0.0.1:$((BASEPORT + 1)),127.0.0.1:$((BASEPORT + 2)); Ctrl-C stops the cluster"
wait -n "${pids[@]}" || true
echo "a process exited; see $STATE/logs" >&2
