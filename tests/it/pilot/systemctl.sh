#!/bin/sh
# Stands in for systemctl in the package test's scratch root, where no
# systemd runs: `start`, `stop`, `restart` and `is-active` of
# stemedb.service (and `enable --now`) do what the *installed* unit says — its User, Group,
# EnvironmentFile, Environment, StateDirectory, ExecStartPre and ExecStart
# lines — and a SIGTERM stop waits for the process to exit. Timers are
# recorded (start/stop), since nothing fires them here.
set -eu
unit=/lib/systemd/system/stemedb.service
pidfile=/run/stemedb.standin.pid
key() { sed -n "s/^$1=//p" "$unit" | head -1; }
# Alive: the process exists and is not a zombie waiting to be reaped.
running() {
    [ -f "$pidfile" ] || return 1
    state="$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$(cat "$pidfile")/status" 2>/dev/null)"
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

start() {
    running && return 0
    user="$(key User)"; group="$(key Group)"
    # StateDirectory=stemedb: systemd makes /var/lib/stemedb if missing.
    [ -d /var/lib/stemedb ] || install -d -o "$user" -g "$group" -m 0700 /var/lib/stemedb
    envfile="$(key EnvironmentFile | sed 's/^-//')"
    set -a
    [ -f "$envfile" ] && . "$envfile"
    export $(key Environment)
    set +a
    as="setpriv --reuid=$user --regid=$group --init-groups --"
    $as $(key ExecStartPre)
    $as $(key ExecStart) >>/var/log/stemedb.standin.log 2>&1 &
    echo $! > "$pidfile"
}

stop() {
    running || { rm -f "$pidfile"; return 0; }
    pid="$(cat "$pidfile")"
    kill -TERM "$pid"
    n=0
    while running; do
        n=$((n + 1)); [ "$n" -lt 600 ] || { echo "stemedb did not stop" >&2; exit 1; }
        sleep 0.1
    done
    rm -f "$pidfile"
}

verb="$1"; shift
now=""
for arg in "$@"; do [ "$arg" = --now ] && now=1; done
# `enable --now` starts too; `enable` alone only marks it for the next boot.
if [ "$verb" = enable ]; then
    if [ -n "$now" ]; then verb=start; else verb=enabled; fi
fi
for name in "$@"; do
    case "$name" in
        --*) ;;
        stemedb|stemedb.service)
            case "$verb" in
                start) start ;;
                stop) stop ;;
                restart) stop; start ;;
                is-active) running ;;
                enabled|daemon-reload) ;;
                *) echo "systemctl stand-in: $verb not supported" >&2; exit 2 ;;
            esac ;;
        *.timer) echo "$verb $name" >> /run/stemedb.standin.timers ;;
        *) echo "systemctl stand-in: unknown unit $name" >&2; exit 2 ;;
    esac
done
