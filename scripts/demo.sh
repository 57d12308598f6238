#!/usr/bin/env bash
# The one-command demo: SQLite, kombu's filesystem broker, simulated hosts (libvirt test driver),
# unless DATABASE_URL / CELERY_BROKER_URL / NUAGE_DEMO_HOSTS say otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
export NUAGE_DEMO=1
export NUAGE_SERIAL_LOG_DIR=${NUAGE_SERIAL_LOG_DIR:-/var/log/libvirt/qemu}
PY=.venv/bin/python
addr=${NUAGE_DEMO_ADDR:-127.0.0.1:8000}
mkdir -p var

$PY manage.py migrate --no-input -v0
seed_args=()
for uri in ${NUAGE_DEMO_HOSTS:-}; do seed_args+=(--host-uri "$uri"); done
if [ -n "${NUAGE_DEMO_HOSTS:-}" ] && [[ "${NUAGE_DEMO_HOSTS}" == *qemu* ]]; then
  scripts/libvirt-up.sh
  $PY -m compute.tinyguest /var/lib/libvirt/nuage-images/tiny >/dev/null
  seed_args+=(--kernel /var/lib/libvirt/nuage-images/tiny/vmlinuz
              --initrd /var/lib/libvirt/nuage-images/tiny/initrd.img)
  # System containers beside the VMs, when the LXC driver answers.
  if virsh -c lxc:/// version >/dev/null 2>&1; then seed_args+=(--lxc-host-uri lxc:///); fi
fi
$PY manage.py seed_demo "${seed_args[@]}"

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM
# Threads share one connection per host: simulated hosts keep their state in it.
# One worker consumes every queue (default, provisioning, metering, notifications).
queues=$($PY -m portal.routing)
.venv/bin/celery -A portal worker --pool threads --concurrency 4 --loglevel WARNING \
  -Q "$queues" --logfile var/worker.log & pids+=($!)
.venv/bin/celery -A portal beat --loglevel WARNING --logfile var/beat.log \
  --schedule var/celerybeat-schedule & pids+=($!)
echo
echo "Nuage is at http://$addr/  (API docs: http://$addr/api/docs/)  — Ctrl-C stops it."
echo "Worker log: var/worker.log"
# uvicorn serves the site and the consoles' websockets (ASGI); WhiteNoise the static files.
web_host=${addr%:*}
web_port=${addr##*:}
.venv/bin/uvicorn portal.asgi:application --host "$web_host" --port "$web_port" --ws wsproto \
  --log-level warning --no-access-log
