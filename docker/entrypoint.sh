#!/usr/bin/env bash
# packyard image entrypoint (docs/docker.md).
#
# - No arguments: pypi-server run -p "$PYPISERVER_PORT" /data/packages
# - Arguments replace that command, as with pypiserver's image: when the first one
#   is a subcommand (run, update, yank, unyank), an option (-P, --fallback-url, ...)
#   or a directory, they are pypi-server's arguments; `pypi-server ARGS` and
#   `packyard ARGS` mean the same; anything else is a command run as it is
#   (docker run -it IMAGE bash).
# - As root it makes /data/packages writable for uid 9898 (chown of what is not
#   owned by 9898) and runs the server as 9898; as any other uid (--user, OpenShift)
#   it changes nothing and checks that /data/packages is writable.
# - The server replaces this script (exec), so docker stop's SIGTERM reaches it.
set -euo pipefail

PACKAGES=/data/packages
SERVER_UID=9898
SERVER_GID=9898

say() { printf 'entrypoint: %s\n' "$*" >&2; }

# PORT: the deprecated alias pypiserver's image reads when PYPISERVER_PORT is empty.
if [ -z "${PYPISERVER_PORT:-}" ] && [ -n "${PORT:-}" ]; then
    export PYPISERVER_PORT=$PORT
fi

# --- what to run --------------------------------------------------------------
if [ $# -eq 0 ]; then
    set -- run -p "${PYPISERVER_PORT:-8080}" "$PACKAGES"
else
    case "$1" in
        pypi-server | packyard) shift ;;
        run | update | yank | unyank | -*) ;;
        *)
            if [ ! -d "$1" ] && command -v "$1" >/dev/null 2>&1; then
                exec "$@"
            fi
            ;;
    esac
fi

# Help and version need no volume.
for arg in "$@"; do
    case "$arg" in
        -h | --help | --version) exec pypi-server "$@" ;;
    esac
done

# Could an upload happen? Only with a password file (-P, PYPISERVER_PASSWORDS) and
# `update` among the protected actions (-a, PYPISERVER_AUTHENTICATE, default update)
# or -a . (an open server). Without that, uploads are refused anyway and a
# read-only /data/packages is fine.
passwords=${PYPISERVER_PASSWORDS:-}
actions=${PYPISERVER_AUTHENTICATE:-update}
next=
for arg in "$@"; do
    if [ "$next" = passwords ]; then
        passwords=$arg next=
        continue
    elif [ "$next" = actions ]; then
        actions=$arg next=
        continue
    fi
    case "$arg" in
        -P | --passwords) next=passwords ;;
        --passwords=*) passwords=${arg#*=} ;;
        -P*) passwords=${arg#-P} ;;
        -a | --authenticate) next=actions ;;
        --authenticate=*) actions=${arg#*=} ;;
        -a*) actions=${arg#-a} ;;
    esac
done
uploads=no
if [ -n "$passwords" ]; then
    case ",$actions," in
        *,update,* | ,.,) uploads=yes ;;
    esac
fi

# --- volume permissions ---------------------------------------------------------
uid=$(id -u)
read_only_mount=no
case ",$(findmnt -no OPTIONS -T "$PACKAGES" 2>/dev/null || true)," in
    *,ro,*) read_only_mount=yes ;;
esac
if [ "$uid" = 0 ]; then
    as_server() { setpriv --reuid="$SERVER_UID" --regid="$SERVER_GID" --init-groups "$@"; }
    [ -d "$PACKAGES" ] || mkdir -p "$PACKAGES" || say "cannot create $PACKAGES"
    # Hand over what is not the server's yet: nothing, on a volume it made itself.
    not_ours=(-xdev "(" ! -user "$SERVER_UID" -o ! -group "$SERVER_GID" ")")
    if [ -d "$PACKAGES" ] && [ "$read_only_mount" = no ]; then
        count=$(find "$PACKAGES" "${not_ours[@]}" -print 2>/dev/null | wc -l || true)
        if [ "$count" -gt 0 ]; then
            if errors=$(find "$PACKAGES" "${not_ours[@]}" \
                -exec chown -h "$SERVER_UID:$SERVER_GID" {} + 2>&1); then
                say "gave $count entries of $PACKAGES (files and directories) to uid $SERVER_UID, the server's user"
            else
                say "could not give $PACKAGES to uid $SERVER_UID: $(printf '%s\n' "$errors" | head -n 2 | tr '\n' ' ')"
            fi
        fi
    fi
    who="uid $SERVER_UID"
    run_server() { exec setpriv --reuid="$SERVER_UID" --regid="$SERVER_GID" --init-groups pypi-server "$@"; }
    # A password file the server's user cannot read (pypiserver#306).
    if [ -n "$passwords" ] && [ "$passwords" != . ] && [ -f "$passwords" ] &&
        ! as_server test -r "$passwords"; then
        say "$passwords is not readable by uid $SERVER_UID, the server's user: on the host," \
            "chgrp $SERVER_GID FILE && chmod 640 FILE (or chown $SERVER_UID FILE)"
        exit 1
    fi
    writable() { as_server test -d "$PACKAGES" -a -w "$PACKAGES" -a -x "$PACKAGES"; }
    fix="on the host, chown -R $SERVER_UID:$SERVER_GID the directory mounted at $PACKAGES (with SELinux, also mount it with :z)"
else
    who="uid $uid (gid $(id -g))"
    run_server() { exec pypi-server "$@"; }
    writable() { test -d "$PACKAGES" -a -w "$PACKAGES" -a -x "$PACKAGES"; }
    fix="on the host, chown -R $uid the directory mounted at $PACKAGES (on OpenShift: a volume writable by the pod's fsGroup), or run the container without --user so that it gives the directory to uid $SERVER_UID itself"
fi

if ! writable; then
    if [ "$read_only_mount" = yes ]; then
        fix="mount it read-write (it is mounted read-only), or leave out -P for an index without uploads"
    fi
    if [ "$uploads" = yes ]; then
        say "$PACKAGES is not writable by $who, so uploads would fail. To fix it: $fix."
        exit 1
    fi
    say "warning: $PACKAGES is not writable by $who; serving it read-only (uploads are off in this configuration anyway)."
fi

run_server "$@"
