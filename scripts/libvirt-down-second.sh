#!/usr/bin/env bash
# Stop nuage's second libvirt host (started by libvirt-up.sh --second-host); run as root.
#
#   scripts/libvirt-down-second.sh         kill host 2's libvirtd only (its guests and
#                                          virtlogd keep running, like a crashed daemon)
#   scripts/libvirt-down-second.sh --all   kill every process in host 2's mount namespace
#                                          (libvirtd, virtlogd, QEMU guests): a dead host
# `libvirt-up.sh --second-host` brings it back (reusing the namespace if anything survived).
set -euo pipefail

H2=${NUAGE_HOST2_DIR:-/var/lib/nuage-host2}
log() { printf '[libvirt-down-second] %s\n' "$*"; }

all=0
case "${1:-}" in
    "") ;;
    --all) all=1 ;;
    *) echo "usage: $0 [--all]" >&2; exit 2 ;;
esac

# kill_wait PID...: SIGTERM, wait up to 5 s, then SIGKILL
kill_wait() {
    local pids=("$@") i p alive
    ((${#pids[@]})) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive=()
        for p in "${pids[@]}"; do [[ -d /proc/$p ]] && alive+=("$p"); done
        ((${#alive[@]})) || return 0
        sleep 0.1
    done
    kill -KILL "${alive[@]}" 2>/dev/null || true
    sleep 0.2
}

pid=""
if [[ -s "$H2/libvirtd.pid" ]]; then
    pid=$(<"$H2/libvirtd.pid")
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == libvirtd ]] || pid=""
fi

if ((all)); then
    ns=""
    [[ -s "$H2/mntns" ]] && ns=$(<"$H2/mntns")
    [[ -n "$pid" ]] && ns=$(readlink "/proc/$pid/ns/mnt")
    if [[ -z "$ns" || "$ns" == "$(readlink /proc/self/ns/mnt)" ]]; then
        log "no host-2 namespace recorded"; exit 0
    fi
    victims=()
    for d in /proc/[0-9]*; do
        [[ "$(readlink "$d/ns/mnt" 2>/dev/null)" == "$ns" ]] && victims+=("${d#/proc/}")
    done
    log "killing ${#victims[@]} process(es) in host-2 namespace $ns"
    kill_wait "${victims[@]}"
    rm -f "$H2/libvirtd.pid" "$H2/virtlogd.pid"
else
    if [[ -z "$pid" ]]; then log "host-2 libvirtd not running"; exit 0; fi
    kill_wait "$pid"
    log "host-2 libvirtd (pid $pid) stopped"
fi
