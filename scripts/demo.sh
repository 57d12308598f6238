#!/usr/bin/env bash
# The one-command demo: SQLite, kombu's filesystem broker, real QEMU guests when libvirt and QEMU
# are there (simulated hosts on libvirt's test driver otherwise), unless DATABASE_URL /
# CELERY_BROKER_URL / NUAGE_DEMO_HOSTS say otherwise (NUAGE_DEMO_HOSTS=sim: simulated hosts).
# What a new user needs (the logins, the address) is printed last; the worker, beat and web
# server write to var/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
export NUAGE_DEMO=1
export NUAGE_SERIAL_LOG_DIR=${NUAGE_SERIAL_LOG_DIR:-/var/log/libvirt/qemu}
PY=.venv/bin/python
addr=${NUAGE_DEMO_ADDR:-127.0.0.1:8000}
var=${NUAGE_VAR_DIR:-var}
mkdir -p "$var"

# Real guests need root (libvirtd without systemd), libvirtd, QEMU, a host kernel for the tiny
# guest, busybox and dropbear (make install adds them all).
real_guests_possible() {
  [ "$(id -u)" -eq 0 ] || { why="not root"; return 1; }
  local need
  for need in libvirtd virsh qemu-system-x86_64 busybox dropbear; do
    command -v "$need" >/dev/null 2>&1 || { why="$need is missing"; return 1; }
  done
  compgen -G '/boot/vmlinuz-*' >/dev/null || { why="no kernel in /boot"; return 1; }
}

hosts=${NUAGE_DEMO_HOSTS:-}
why=""
if [ -z "$hosts" ]; then
  if real_guests_possible; then
    hosts=qemu:///system
    mode="Real QEMU guests on qemu:///system (libvirt and QEMU found; NUAGE_DEMO_HOSTS=sim for simulated hosts)."
  else
    hosts=sim
    mode="Simulated hosts (libvirt's test driver: VMs go through every step, no guest boots): $why. Run 'make install' as root for real QEMU guests."
  fi
elif [ "$hosts" = sim ]; then
  mode="Simulated hosts (NUAGE_DEMO_HOSTS=sim)."
else
  mode="Hosts from NUAGE_DEMO_HOSTS: $hosts."
fi

$PY manage.py migrate --no-input -v0
seed_args=()
if [ "$hosts" != sim ]; then
  for uri in $hosts; do seed_args+=(--host-uri "$uri"); done
fi
if [[ "$hosts" == *qemu* ]]; then
  if scripts/libvirt-up.sh >"$var"/libvirt-up.log 2>&1 \
     && $PY -m compute.tinyguest /var/lib/libvirt/nuage-images/tiny >>"$var"/libvirt-up.log 2>&1; then
    seed_args+=(--kernel /var/lib/libvirt/nuage-images/tiny/vmlinuz
                --initrd /var/lib/libvirt/nuage-images/tiny/initrd.img)
    # System containers beside the VMs, when the LXC driver answers.
    if virsh -c lxc:/// version >/dev/null 2>&1; then seed_args+=(--lxc-host-uri lxc:///); fi
  elif [ -z "${NUAGE_DEMO_HOSTS:-}" ]; then
    # Detected, not asked for: fall back to simulated hosts rather than fail.
    seed_args=()
    mode="Simulated hosts: starting libvirt or building the tiny guest failed ($var/libvirt-up.log)."
  else
    echo "Starting libvirt or building the tiny guest failed:" >&2
    tail -n 20 "$var"/libvirt-up.log >&2
    exit 1
  fi
fi
# The seed's report (hosts, logins, keys) is shown at the end, after the services' start-up.
$PY manage.py seed_demo "${seed_args[@]}" >"$var"/seed.txt
# A price list, a budget, a month of usage history and last month's invoice.
$PY manage.py seed_demo_billing >"$var"/seed-billing.txt

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
# Threads share one connection per host: simulated hosts keep their state in it.
# One worker consumes every queue (default, provisioning, metering, notifications).
queues=$($PY -m portal.routing)
.venv/bin/celery -A portal worker --pool threads --concurrency 4 --loglevel WARNING \
  -Q "$queues" --logfile "$var"/worker.log >>"$var"/worker.log 2>&1 & pids+=($!)
.venv/bin/celery -A portal beat --loglevel WARNING --logfile "$var"/beat.log \
  --schedule "$var"/celerybeat-schedule >>"$var"/beat.log 2>&1 & pids+=($!)
# uvicorn serves the site and the consoles' websockets (ASGI); WhiteNoise the static files.
web_host=${addr%:*}
web_port=${addr##*:}
.venv/bin/uvicorn portal.asgi:application --host "$web_host" --port "$web_port" --ws wsproto \
  --log-level warning --no-access-log >>"$var"/web.log 2>&1 & web=$!
pids+=("$web")

# Wait for the site to answer (or its server to die) before printing where it is.
for _ in $(seq 1 120); do
  if ! kill -0 "$web" 2>/dev/null; then
    echo "The web server stopped; $var/web.log says:" >&2
    tail -n 20 "$var"/web.log >&2
    exit 1
  fi
  (exec 3<>"/dev/tcp/$web_host/$web_port") 2>/dev/null && break
  sleep 0.5
done

echo
echo "$mode"
cat "$var"/seed-billing.txt "$var"/seed.txt
echo "Logs: $var/worker.log, $var/beat.log, $var/web.log"
echo "Nuage is at http://$addr/  (API docs: http://$addr/api/docs/)  — Ctrl-C stops it."
wait "$web"
