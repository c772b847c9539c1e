#!/bin/sh
# Entry point of the locally built PostgreSQL image (.ci/build-images), after the official image's contract:
# on an empty PGDATA, a cluster owned by POSTGRES_USER with POSTGRES_PASSWORD and the database POSTGRES_DB is
# made before the server listens on TCP; then the server runs in the foreground.
set -eu

if [ "${1:-postgres}" != postgres ]; then
    exec "$@"
fi
[ "$#" -gt 0 ] && shift

: "${PGDATA:=/var/lib/postgresql/data}"
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /run/postgresql
    chown -R postgres:postgres "$PGDATA" /run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    user=${POSTGRES_USER:-postgres}
    database=${POSTGRES_DB:-$user}
    method=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$method" != trust ]; then
        echo "error: POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)" >&2
        exit 1
    fi
    password_file=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$password_file"
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host="$method" >/dev/null
    rm -f "$password_file"
    printf 'host all all all %s\n' "$method" >>"$PGDATA/pg_hba.conf"
    # Unix socket only while the database is made: no client can connect before it exists.
    pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
    if [ "$database" != postgres ]; then
        echo 'CREATE DATABASE :"name";' | psql --no-psqlrc --quiet --set=ON_ERROR_STOP=1 --username="$user" \
            --dbname=postgres --set=name="$database"
    fi
    pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
    echo "database $database of user $user created"
fi

exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
