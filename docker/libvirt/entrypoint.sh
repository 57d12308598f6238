#!/bin/sh
# Start virtlogd and libvirtd (listening for qemu+tcp), ensure the `nuage` dir pool, then
# stay in the foreground until libvirtd exits or the container is stopped.
set -eu

POOL_NAME=${NUAGE_POOL_NAME:-nuage}
POOL_PATH=${NUAGE_POOL_PATH:-/var/lib/libvirt/nuage-pool}
URI=qemu:///system

log() { printf '[nuage-libvirt] %s\n' "$*"; }

mkdir -p /run/libvirt /var/log/libvirt/qemu "$POOL_PATH"
rm -f /run/libvirtd.pid /run/virtlogd.pid

virtlogd -d
libvirtd --listen &
libvirtd_pid=$!
trap 'kill -TERM "$libvirtd_pid" 2>/dev/null || true' TERM INT

i=0
until virsh -c "$URI" version >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -gt 150 ] || ! kill -0 "$libvirtd_pid" 2>/dev/null; then
    log "libvirtd did not come up"; exit 1
  fi
  sleep 0.2
done

if ! virsh -c "$URI" pool-info "$POOL_NAME" >/dev/null 2>&1; then
  virsh -c "$URI" pool-define-as "$POOL_NAME" dir --target "$POOL_PATH" >/dev/null
  log "pool $POOL_NAME defined at $POOL_PATH"
fi
if [ "$(virsh -c "$URI" pool-info "$POOL_NAME" | awk '/^State:/ {print $2}')" != running ]; then
  virsh -c "$URI" pool-build "$POOL_NAME" >/dev/null 2>&1 || true
  virsh -c "$URI" pool-start "$POOL_NAME" >/dev/null
fi
virsh -c "$URI" pool-autostart "$POOL_NAME" >/dev/null
virsh -c "$URI" pool-refresh "$POOL_NAME" >/dev/null
log "ready: qemu+tcp://$(hostname):16509/system, pool $POOL_NAME ($POOL_PATH)"

# `wait` returns early when a trapped signal arrives; wait again for libvirtd to finish.
wait "$libvirtd_pid" || true
wait "$libvirtd_pid" 2>/dev/null || true
