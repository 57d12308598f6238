#!/usr/bin/env bash
# Start libvirt (no systemd) and ensure the `nuage` storage pool; idempotent, run as root.
#
#   scripts/libvirt-up.sh                 host 1: qemu:///system and lxc:/// (one libvirtd,
#                                         in a private mount namespace so that LXC works)
#   scripts/libvirt-up.sh --second-host   also host 2: qemu+tcp://127.0.0.1:16510/system
#
# Host 2 is a second system-mode libvirtd in its own mount namespace: its /etc/libvirt,
# /var/lib/libvirt, /run/libvirt, /var/cache/libvirt and /var/log/libvirt are bind-mounted
# from $NUAGE_HOST2_DIR (default /var/lib/nuage-host2). The host's
# /var/lib/libvirt/nuage-images (kernels, initrds) is shared into it at the same path, so
# guests referring to it can live-migrate. Host 1's /run/libvirt is also bind-mounted at
# /run/nuage-host1 (in both namespaces), so a peer-to-peer migration from host 2 back to
# host 1 targets qemu+unix:///system?socket=/run/nuage-host1/libvirt-sock.
# Everything listens on loopback only.
set -euo pipefail

POOL_NAME=nuage
POOL_PATH=/var/lib/libvirt/nuage-pool          # same logical path on both hosts
IMAGES_DIR=/var/lib/libvirt/nuage-images       # shared read-only guest images
URI1=qemu:///system
H2=${NUAGE_HOST2_DIR:-/var/lib/nuage-host2}
H2_PORT=16510
URI2="qemu+tcp://127.0.0.1:${H2_PORT}/system"
H2_LIBVIRTD_PID="$H2/libvirtd.pid"
H2_VIRTLOGD_PID="$H2/virtlogd.pid"
H1_RUN_ALIAS=/run/nuage-host1
URI1_FROM_H2="qemu+unix:///system?socket=$H1_RUN_ALIAS/libvirt-sock"

log() { printf '[libvirt-up] %s\n' "$*"; }
die() { printf '[libvirt-up] ERROR: %s\n' "$*" >&2; exit 1; }

second=0
for arg in "$@"; do
    case "$arg" in
        --second-host) second=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done
[[ $(id -u) -eq 0 ]] || die "must run as root"
for bin in virsh libvirtd virtlogd unshare nsenter; do
    command -v "$bin" >/dev/null || die "$bin not found (install libvirt-daemon-system)"
done

# pid_alive PIDFILE NAME -> 0 if the pid in PIDFILE is a live process called NAME
pid_alive() {
    local pid
    [[ -s "$1" ]] || return 1
    pid=$(<"$1")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$2" ]]
}

# wait_virsh URI PIDFILE LOGFILE: until URI answers (<= 30 s); fail fast if libvirtd died
wait_virsh() {
    local uri=$1 pidfile=$2 logfile=$3 i
    for ((i = 0; i < 150; i++)); do
        if virsh -c "$uri" version >/dev/null 2>&1; then
            log "$uri answers (after ~$((i / 5)) s)"
            return 0
        fi
        if ((i >= 10)) && ! pid_alive "$pidfile" libvirtd; then
            tail -n 5 "$logfile" >&2 || true
            die "libvirtd for $uri exited (see $logfile)"
        fi
        sleep 0.2
    done
    die "$uri did not answer within 30 s"
}

# ensure_pool URI: dir pool $POOL_NAME at $POOL_PATH, built, started, autostarted
ensure_pool() {
    local uri=$1
    if ! virsh -c "$uri" pool-info "$POOL_NAME" >/dev/null 2>&1; then
        virsh -c "$uri" pool-define-as "$POOL_NAME" dir --target "$POOL_PATH" >/dev/null
        log "$uri: pool $POOL_NAME defined"
    fi
    local state
    state=$(virsh -c "$uri" pool-info "$POOL_NAME" | awk '/^State:/ {print $2}')
    if [[ "$state" != running ]]; then
        virsh -c "$uri" pool-build "$POOL_NAME" >/dev/null 2>&1 || true
        virsh -c "$uri" pool-start "$POOL_NAME" >/dev/null
        log "$uri: pool $POOL_NAME started"
    fi
    virsh -c "$uri" pool-autostart "$POOL_NAME" >/dev/null
    virsh -c "$uri" pool-refresh "$POOL_NAME" >/dev/null
    log "$uri: pool $POOL_NAME ready ($POOL_PATH)"
}

# ---------------------------------------------------------------- host 1
mkdir -p "$IMAGES_DIR"
chmod 0755 "$IMAGES_DIR"
if pid_alive /run/virtlogd.pid virtlogd; then
    log "virtlogd already running"
else
    virtlogd -d
    log "virtlogd started"
fi
# libvirtd runs in a private mount namespace without the host's empty cgroup2 mount at
# /sys/fs/cgroup/unified: with it visible, the LXC driver tries to create its container
# cgroups there and every container fails ("Unable to create directory
# /sys/fs/cgroup/unified"). QEMU guests work the same under it; the sockets, images and pool
# are on the host's file systems, so virsh and the tests see them as before.
start_libvirtd_ns() {
    unshare --mount --propagation private sh -c \
        'if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
exec libvirtd -d'
}
# A libvirtd of ours sees the unified mount: it was started plainly (by an older version of
# this script, or by hand). Restart it in the namespace; running guests survive a restart.
sees_unified() {
    grep -q ' /sys/fs/cgroup/unified ' "/proc/$1/mountinfo" 2>/dev/null
}
if pid_alive /run/libvirtd.pid libvirtd; then
    pid=$(</run/libvirtd.pid)
    if sees_unified "$pid"; then
        log "libvirtd (pid $pid) sees /sys/fs/cgroup/unified: restarting it for LXC"
        kill -TERM "$pid"
        for ((i = 0; i < 100; i++)); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
        [[ -d /proc/$pid ]] && kill -KILL "$pid" && sleep 0.2
        rm -f /run/libvirtd.pid
        start_libvirtd_ns
        log "libvirtd restarted in a private mount namespace"
    else
        log "libvirtd already running"
    fi
else
    start_libvirtd_ns
    log "libvirtd started in a private mount namespace"
fi
wait_virsh "$URI1" /run/libvirtd.pid /var/log/libvirt/libvirtd.log
ensure_pool "$URI1"
# System containers (issue 16): the LXC driver answers when libvirt-daemon-driver-lxc is in.
if virsh -c lxc:/// version >/dev/null 2>&1; then
    log "lxc:/// answers"
else
    log "lxc:/// does not answer (install libvirt-daemon-driver-lxc for system containers)"
fi

[[ $second -eq 1 ]] || exit 0

# ---------------------------------------------------------------- host 2
init_host2_tree() {
    log "host2: initialising $H2"
    mkdir -p "$H2"/{etc,lib,run,cache,log}
    chmod 0755 "$H2" "$H2/lib" "$H2/run" "$H2/log"
    # config: a copy of the host's, minus any host-1 state (domains, pools, autostarts)
    cp -a /etc/libvirt/. "$H2/etc/"
    rm -rf "$H2/etc/storage" "$H2/etc/secrets" "$H2/etc/qemu/autostart" \
        "$H2/etc/qemu/networks/autostart"
    find "$H2/etc/qemu" -maxdepth 1 -name '*.xml' -delete
    mkdir -p "$H2/etc/qemu/networks/autostart"
    # state dirs with Debian's ownership/modes
    install -d -m 0711 "$H2/lib/boot" "$H2/lib/images"
    install -d -m 0700 "$H2/lib/sanlock"
    install -d -m 0750 -o libvirt-qemu -g libvirt-qemu \
        "$H2/lib/qemu" "$H2/lib/qemu/channel" "$H2/lib/qemu/channel/target"
    install -d -m 0755 "$H2/lib/nuage-images" "$H2/log/qemu" "$H2/log/lxc"
    install -d -m 0711 "$H2/cache" "$H2/cache/qemu"
    cat /proc/sys/kernel/random/uuid >"$H2/host_uuid"
    touch "$H2/.initialized"
}
[[ -f "$H2/.initialized" ]] || init_host2_tree
mkdir -p "$H2/lib/nuage-images" /run/libvirt "$H1_RUN_ALIAS"
# Host 1's socket dir, also at a path host 2's namespace does not shadow: host 2 migrates
# back to host 1 through $URI1_FROM_H2 (qemu:///system is refused as "the same host").
if ! mountpoint -q "$H1_RUN_ALIAS"; then
    mount --bind /run/libvirt "$H1_RUN_ALIAS"
    log "host1: /run/libvirt also at $H1_RUN_ALIAS (for $URI1_FROM_H2)"
fi

# Config files are rewritten on every run (only our settings; libvirt defaults otherwise).
cat >"$H2/etc/libvirtd.conf" <<EOF
# nuage host 2 (generated by scripts/libvirt-up.sh)
listen_tls = 0
listen_tcp = 1
tcp_port = "$H2_PORT"
listen_addr = "127.0.0.1"
auth_tcp = "none"
host_uuid = "$(<"$H2/host_uuid")"
EOF
# Memory cgroups only (a memory hard limit is applied to a guest migrated there), in a tree of
# host 2's own ($H2_MEMCG, see h2_cgroup_cmd): both daemons name a guest's group
# machine/qemu-<id>-<name>, and during a migration the same guest runs on both with ids that
# may be equal. The other controllers stay off, as before.
cat >"$H2/etc/qemu.conf" <<'EOF'
# nuage host 2 (generated by scripts/libvirt-up.sh)
cgroup_controllers = [ "memory" ]
migration_port_min = 49252
migration_port_max = 49315
EOF
chmod 0600 "$H2/etc/qemu.conf"

# Host 2's memory cgroup tree: in its namespace it is mounted over the memory hierarchy's
# root, so its libvirtd makes its groups there; the empty cgroup2 mount goes too (with it,
# libvirt fails to set up a guest's cgroups: "v2 controller '(null)' is not available"), as
# for host 1. Idempotent; run inside the namespace.
H2_MEMCG=/sys/fs/cgroup/memory/nuage-host2
h2_cgroup_cmd() {
    cat <<EOF
set -e
if ! awk '\$4 == "/nuage-host2" && \$5 == "/sys/fs/cgroup/memory" { f = 1 } END { exit !f }' \\
    /proc/self/mountinfo; then
    mkdir -p '$H2_MEMCG'
    mount --bind '$H2_MEMCG' /sys/fs/cgroup/memory
fi
if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified; fi
EOF
}
# Whether host 2's libvirtd (pid $1) sees its own memory cgroup tree, and no cgroup2 mount.
h2_has_cgroup() {
    awk '$4 == "/nuage-host2" && $5 == "/sys/fs/cgroup/memory" { f = 1 } END { exit !f }' \
        "/proc/$1/mountinfo" 2>/dev/null && ! sees_unified "$1"
}

# Mounts run inside host 2's fresh mount namespace before its daemons start.
h2_start_cmd() {
    h2_cgroup_cmd
    cat <<EOF
mount --bind '$IMAGES_DIR' '$H2/lib/nuage-images'
mount --bind '$H2/etc' /etc/libvirt
mount --rbind '$H2/lib' /var/lib/libvirt
mount --bind '$H2/run' /run/libvirt
mount --bind '$H2/cache' /var/cache/libvirt
mount --bind '$H2/log' /var/log/libvirt
EOF
}

if pid_alive "$H2_LIBVIRTD_PID" libvirtd && ! h2_has_cgroup "$(<"$H2_LIBVIRTD_PID")"; then
    # Started by an older version of this script (no cgroups): restart it with its own
    # memory cgroup tree; running guests survive a restart.
    pid=$(<"$H2_LIBVIRTD_PID")
    log "host2: libvirtd (pid $pid) has no memory cgroup tree of its own: restarting it"
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
    [[ -d /proc/$pid ]] && kill -KILL "$pid" && sleep 0.2
    rm -f "$H2_LIBVIRTD_PID"
fi
if pid_alive "$H2_LIBVIRTD_PID" libvirtd; then
    log "host2: libvirtd already running (pid $(<"$H2_LIBVIRTD_PID"))"
elif pid_alive "$H2_VIRTLOGD_PID" virtlogd; then
    # the namespace survives (virtlogd, maybe guests): restart libvirtd inside it
    ns_pid=$(<"$H2_VIRTLOGD_PID")
    nsenter --mount="/proc/$ns_pid/ns/mnt" sh -c "$(h2_cgroup_cmd)
exec libvirtd -d --listen -p '$H2_LIBVIRTD_PID'"
    log "host2: libvirtd restarted in existing namespace of pid $ns_pid"
else
    rm -f "$H2_LIBVIRTD_PID" "$H2_VIRTLOGD_PID"
    unshare --mount --propagation private sh -c "$(h2_start_cmd)
virtlogd -d -p '$H2_VIRTLOGD_PID'
libvirtd -d --listen -p '$H2_LIBVIRTD_PID'"
    log "host2: virtlogd + libvirtd started in a new mount namespace"
fi
wait_virsh "$URI2" "$H2_LIBVIRTD_PID" "$H2/log/libvirtd.log"
# remember the namespace so libvirt-down-second.sh --all can find every host-2 process
readlink "/proc/$(<"$H2_LIBVIRTD_PID")/ns/mnt" >"$H2/mntns"
ensure_pool "$URI2"
log "host2: ready at $URI2 (pool files under $H2/lib/nuage-pool, logs under $H2/log)"
