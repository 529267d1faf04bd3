#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests marked `postgres`.
#
#   source .ci/postgres.sh            # start it; exports SEGBOT_TEST_PG_URL; stops on exit
#   .ci/postgres.sh pytest -m postgres  # or: start it, run one command, stop it
#
# Installs PostgreSQL from Debian's packages when no server binaries are found
# (needs root, or sudo), then runs a private cluster as the `postgres` OS user
# (the server refuses to run as root) in a temporary folder, on 127.0.0.1 and a
# free port, with a database `segbot_test`. Nothing is left behind: the cluster
# is stopped and its folder removed when the shell that sourced this exits.
# Quiet unless something fails; then the server's log is shown.
#
# Idempotent: a SEGBOT_TEST_PG_URL already set is used as it is (no server is
# started), and sourcing it twice reuses the cluster the first time started.

_segbot_pg_main() {
    _segbot_pg_started=""
    if [ -n "${SEGBOT_TEST_PG_URL:-}" ]; then
        return 0 # a server given from outside, or started by an earlier source
    fi
    local bindir
    bindir="$(_segbot_pg_bindir)"
    if [ -z "$bindir" ]; then
        _segbot_pg_install || return 1
        bindir="$(_segbot_pg_bindir)"
        if [ -z "$bindir" ]; then
            echo "postgres.sh: PostgreSQL installed but pg_ctl/initdb not found" >&2
            return 1
        fi
    fi

    local user port dir
    user="$(id -un)"
    if [ "$(id -u)" = 0 ]; then
        user=postgres
        id -u postgres >/dev/null 2>&1 ||
            useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    port="$(_segbot_pg_free_port)" || return 1
    dir="$(mktemp -d "${TMPDIR:-/tmp}/segbot-pg.XXXXXX")" || return 1
    chmod 755 "$dir"
    [ "$user" = "$(id -un)" ] || chown "$user" "$dir"
    SEGBOT_PG_DIR="$dir"
    SEGBOT_PG_BINDIR="$bindir"
    SEGBOT_PG_USER="$user"

    if ! _segbot_pg_as "$user" "$bindir/initdb" -D "$dir/data" -U postgres -A trust \
        -E UTF8 --locale=C -N >"$dir/initdb.log" 2>&1; then
        echo "postgres.sh: initdb failed:" >&2
        tail -n 20 "$dir/initdb.log" >&2
        _segbot_pg_stop
        return 1
    fi
    # Loopback only, a socket in our folder, durability off: a test server.
    if ! _segbot_pg_as "$user" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -F -c fsync=off -c full_page_writes=off" \
        start >/dev/null 2>&1; then
        echo "postgres.sh: the server did not start:" >&2
        tail -n 20 "$dir/server.log" >&2
        _segbot_pg_stop
        return 1
    fi
    if ! _segbot_pg_as "$user" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres \
        segbot_test >>"$dir/server.log" 2>&1; then
        echo "postgres.sh: createdb failed:" >&2
        tail -n 20 "$dir/server.log" >&2
        _segbot_pg_stop
        return 1
    fi
    export SEGBOT_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/segbot_test"
    _segbot_pg_started=1
}

_segbot_pg_bindir() {
    # pg_ctl on PATH (with initdb beside it), else Debian's versioned folders, newest first.
    local found candidate
    found="$(command -v pg_ctl 2>/dev/null || true)"
    if [ -n "$found" ]; then
        found="$(dirname "$(readlink -f "$found")")"
        if [ -x "$found/initdb" ] && [ -x "$found/postgres" ]; then
            echo "$found"
            return
        fi
    fi
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
        if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ]; then
            echo "$candidate"
            return
        fi
    done
}

_segbot_pg_install() {
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo"
        else
            echo "postgres.sh: PostgreSQL is not installed and installing it needs root" >&2
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "postgres.sh: PostgreSQL is not installed and there is no apt-get here;" \
            "install it, or set SEGBOT_TEST_PG_URL to a server" >&2
        return 1
    fi
    # Debian would create and start a default cluster on port 5432: we want only ours
    # (createcluster.conf reads this folder; the file itself is the package's).
    if [ ! -e /etc/postgresql-common/createcluster.d/segbot-ci.conf ]; then
        $sudo mkdir -p /etc/postgresql-common/createcluster.d
        echo "create_main_cluster = false" |
            $sudo tee /etc/postgresql-common/createcluster.d/segbot-ci.conf >/dev/null
    fi
    local log
    log="$(mktemp)"
    if ! { $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            postgresql; } >"$log" 2>&1; then
        echo "postgres.sh: installing PostgreSQL failed:" >&2
        tail -n 20 "$log" >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
}

_segbot_pg_free_port() {
    local py
    py="$(command -v python3 || command -v python)" || {
        echo "postgres.sh: python3 is needed to find a free port" >&2
        return 1
    }
    "$py" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

_segbot_pg_as() {
    local user="$1"
    shift
    if [ "$user" = "$(id -un)" ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$user" -- "$@") # from a folder the server's user can enter
    else
        (cd / && su -s /bin/sh "$user" -c "$(printf '%q ' "$@")")
    fi
}

_segbot_pg_stop() {
    if [ -n "${SEGBOT_PG_DIR:-}" ] && [ -d "$SEGBOT_PG_DIR" ]; then
        if [ -f "$SEGBOT_PG_DIR/data/postmaster.pid" ]; then
            _segbot_pg_as "$SEGBOT_PG_USER" "$SEGBOT_PG_BINDIR/pg_ctl" -D "$SEGBOT_PG_DIR/data" \
                -m immediate -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$SEGBOT_PG_DIR"
    fi
    unset SEGBOT_PG_DIR
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: start, and stop when the sourcing shell exits (after its own EXIT trap).
    if _segbot_pg_main; then
        if [ -n "$_segbot_pg_started" ]; then
            _segbot_pg_previous_trap="$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")"
            # shellcheck disable=SC2064
            trap "${_segbot_pg_previous_trap:+$_segbot_pg_previous_trap;} _segbot_pg_stop" EXIT
        fi
    else
        return 1
    fi
else
    set -euo pipefail
    trap _segbot_pg_stop EXIT
    _segbot_pg_main
    if [ "$#" -gt 0 ]; then
        "$@"
    else
        echo "SEGBOT_TEST_PG_URL=$SEGBOT_TEST_PG_URL (stopped again as this script exits;" \
            "source it, or give a command to run)"
    fi
fi
