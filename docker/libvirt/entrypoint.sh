#!/bin/sh
# Start virtlogd and libvirtd (listening for qemu+tcp, or qemu+tls), ensure the `nuage` dir pool, then
# stay in the foreground until libvirtd exits or the container is stopped.
set -eu

POOL_NAME=${NUAGE_POOL_NAME:-nuage}
POOL_PATH=${NUAGE_POOL_PATH:-/var/lib/libvirt/nuage-pool}
URI=qemu:///system

log() { printf '[nuage-libvirt] %s\n' "$*"; }

# NUAGE_LIBVIRT_TLS=1 (docker-compose.tls.yml): libvirt's TLS on 16514 instead of plain TCP,
# with the server files mounted at $PKI (scripts/libvirt-tls.sh compose), and only the client
# subject NUAGE_LIBVIRT_TLS_CLIENT (Nuage's certificate) let in.
PKI=${NUAGE_LIBVIRT_PKI:-/etc/nuage/pki-server}
LISTEN="qemu+tcp://$(hostname):16509/system"
if [ "${NUAGE_LIBVIRT_TLS:-0}" = 1 ]; then
  for f in cacert.pem servercert.pem serverkey.pem; do
    [ -s "$PKI/$f" ] || { log "NUAGE_LIBVIRT_TLS=1 but $PKI/$f is missing"; exit 1; }
  done
  cat >/etc/libvirt/libvirtd.conf <<EOF
listen_tls = 1
listen_tcp = 0
tls_port = "16514"
listen_addr = "0.0.0.0"
ca_file = "$PKI/cacert.pem"
cert_file = "$PKI/servercert.pem"
key_file = "$PKI/serverkey.pem"
tls_allowed_dn_list = ["O=${NUAGE_LIBVIRT_PKI_ORG:-Nuage},CN=${NUAGE_LIBVIRT_TLS_CLIENT:-nuage-worker}"]
auth_unix_rw = "none"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
log_outputs = "2:stderr"
EOF
  LISTEN="qemu+tls://$(hostname)/system"
fi

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
log "ready: $LISTEN, pool $POOL_NAME ($POOL_PATH)"

# `wait` returns early when a trapped signal arrives; wait again for libvirtd to finish.
wait "$libvirtd_pid" || true
wait "$libvirtd_pid" 2>/dev/null || true
