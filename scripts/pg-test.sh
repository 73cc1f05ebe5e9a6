#!/usr/bin/env bash
# Starts (start) or stops (stop) a throwaway PostgreSQL cluster for the tests,
# under build/pg (or $DIFFLAB_PG_DIR), listening on 127.0.0.1 only, on port
# 55432 (or $DIFFLAB_PG_PORT). start prints the DSN of its
# superuser database and writes it to build/pg/dsn; it is idempotent (a running
# cluster is reused); restart stops the server at once (as a crash would) and
# starts it again. Run as root, the server runs as the user postgres, as
# PostgreSQL refuses to run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${DIFFLAB_PG_DIR:-$PWD/build/pg}"
data="$dir/data"
port="${DIFFLAB_PG_PORT:-55432}"

bindir=""
if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/pg_ctl" ]; then
  bindir="$(pg_config --bindir)"
fi
if [ -z "$bindir" ]; then
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pg_ctl" ] && bindir="$d"; done
fi
if [ -z "$bindir" ]; then
  echo "pg-test: no PostgreSQL server found (install the Debian package postgresql: make deps)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "${1:-}" in
start)
  mkdir -p "$dir"
  user="$(id -un)"
  if [ "$(id -u)" = 0 ]; then
    user=postgres
    chown postgres "$dir"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    rm -rf "$data"
    as_owner "$bindir/initdb" -D "$data" -U "$user" --auth=trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
      { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    # A loopback port, a socket folder of our own, enough connections for
    # the multi-process tests, and no durability (a test cluster).
    as_owner "$bindir/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$dir' -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null ||
      { tail -20 "$dir/server.log" >&2; exit 1; }
  fi
  dsn="postgres://$user@127.0.0.1:$port/postgres?sslmode=disable"
  echo "$dsn" >"$dir/dsn"
  echo "$dsn"
  ;;
stop)
  if [ -f "$data/PG_VERSION" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  ;;
restart)
  as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w restart -l "$dir/server.log" >/dev/null
  ;;
*)
  echo "usage: $0 start|stop|restart" >&2
  exit 2
  ;;
esac
