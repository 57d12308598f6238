#!/usr/bin/env bash
# Certificates for libvirt over TLS (qemu+tls://): a CA, one server certificate per libvirt host
# and a client certificate for Nuage's workers, made with openssl; then put where libvirt looks.
#
#   scripts/libvirt-tls.sh ca                          the CA (once): $DIR/ca/
#   scripts/libvirt-tls.sh server NAME [ALT ...]       a host's certificate: $DIR/servers/NAME/
#                                                      NAME and each ALT (DNS names or IP
#                                                      addresses) are what Nuage's URIs may call it
#   scripts/libvirt-tls.sh client NAME                 a client's: $DIR/clients/NAME/, a folder
#                                                      ready for qemu+tls://HOST/system?pkipath=…
#   scripts/libvirt-tls.sh install-server NAME [ROOT]  copy a host's files to ROOT/etc/pki (as
#                                                      root on that host; ROOT defaults to /)
#   scripts/libvirt-tls.sh install-client NAME [DEST]  copy a client's files to DEST (a pkipath
#                                                      folder); default: /etc/pki as root, else
#                                                      ~/.pki/libvirt (libvirt's own defaults)
#   scripts/libvirt-tls.sh compose CLIENT SERVER       the files docker-compose.tls.yml mounts,
#                                                      in $DIR/compose/: client/ for the app's
#                                                      containers (user 10001: the key 0640,
#                                                      group $NUAGE_CONTAINER_GID), server/ for
#                                                      the libvirt container; run as root
#
# DIR is $NUAGE_LIBVIRT_PKI_DIR, default var/libvirt-pki in the checkout; keep it (the CA key
# signs every certificate) and never commit it. Certificates last $NUAGE_LIBVIRT_PKI_DAYS days
# (default 825). docs/operations.md, "libvirt over TLS", says how to turn TLS on in libvirtd.
set -euo pipefail

DIR=${NUAGE_LIBVIRT_PKI_DIR:-$(cd "$(dirname "$0")/.." && pwd)/var/libvirt-pki}
DAYS=${NUAGE_LIBVIRT_PKI_DAYS:-825}
ORG=${NUAGE_LIBVIRT_PKI_ORG:-Nuage}
KEY_BITS=3072

log() { printf '[libvirt-tls] %s\n' "$*"; }
die() { printf '[libvirt-tls] ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"

# A name for a file name and a certificate subject: letters, digits, dots, dashes, colons.
check_name() {
    [[ "$1" =~ ^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252})$ ]] || die "not a host or client name: '$1'"
}
is_ip() { [[ "$1" =~ ^[0-9]+(\.[0-9]+){3}$ || "$1" == *:* ]]; }
serial() { echo "0x$(openssl rand -hex 16)"; }

# sign KEY SUBJECT EXTENSIONS OUT: a certificate for KEY signed by the CA
sign() {
    local key=$1 subject=$2 extensions=$3 out=$4 tmp
    tmp=$(mktemp -d)
    printf '[req]\ndistinguished_name = dn\n[dn]\n' >"$tmp/req.cnf"
    printf '[v3]\n%s\n' "$extensions" >"$tmp/ext.cnf"
    openssl req -new -key "$key" -subj "$subject" -config "$tmp/req.cnf" -out "$tmp/csr.pem"
    openssl x509 -req -in "$tmp/csr.pem" -CA "$DIR/ca/cacert.pem" -CAkey "$DIR/ca/cakey.pem" \
        -set_serial "$(serial)" -days "$DAYS" -sha256 \
        -extfile "$tmp/ext.cnf" -extensions v3 -out "$out" 2>/dev/null
    rm -rf "$tmp"
}

new_key() {
    (umask 077 && openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$KEY_BITS" \
        -out "$1" 2>/dev/null)
}

need_ca() {
    [[ -s "$DIR/ca/cacert.pem" && -s "$DIR/ca/cakey.pem" ]] \
        || die "no CA in $DIR/ca: run '$0 ca' first"
}

cmd_ca() {
    [[ ! -e "$DIR/ca/cakey.pem" ]] || die "$DIR/ca already holds a CA (delete it to start over)"
    install -d -m 0700 "$DIR" "$DIR/ca"
    new_key "$DIR/ca/cakey.pem"
    local tmp
    tmp=$(mktemp -d)
    cat >"$tmp/ca.cnf" <<EOF
[req]
distinguished_name = dn
[dn]
[v3]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    openssl req -new -x509 -key "$DIR/ca/cakey.pem" -subj "/O=$ORG/CN=$ORG libvirt CA" \
        -config "$tmp/ca.cnf" -extensions v3 -set_serial "$(serial)" -days "$DAYS" -sha256 \
        -out "$DIR/ca/cacert.pem"
    rm -rf "$tmp"
    chmod 0644 "$DIR/ca/cacert.pem"
    log "CA: $DIR/ca/cacert.pem (key $DIR/ca/cakey.pem: keep it private)"
}

cmd_server() {
    (($# >= 1)) || usage
    need_ca
    local name=$1 san="" alt out
    for alt in "$@"; do
        check_name "$alt"
        if is_ip "$alt"; then san+="${san:+, }IP:$alt"; else san+="${san:+, }DNS:$alt"; fi
    done
    out="$DIR/servers/$name"
    install -d -m 0700 "$DIR/servers" "$out"
    new_key "$out/serverkey.pem"
    sign "$out/serverkey.pem" "/O=$ORG/CN=$name" "basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid" "$out/servercert.pem"
    cp "$DIR/ca/cacert.pem" "$out/cacert.pem"
    log "server $name ($san): $out/{cacert,servercert,serverkey}.pem"
}

cmd_client() {
    (($# == 1)) || usage
    need_ca
    local name=$1 out
    check_name "$name"
    out="$DIR/clients/$name"
    install -d -m 0700 "$DIR/clients" "$out"
    new_key "$out/clientkey.pem"
    sign "$out/clientkey.pem" "/O=$ORG/CN=$name" "basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid" "$out/clientcert.pem"
    cp "$DIR/ca/cacert.pem" "$out/cacert.pem"
    log "client $name (subject O=$ORG,CN=$name): $out, use ?pkipath=$out"
}

# put SRC DEST MODE: copy, refusing to replace a different file already there
put() {
    local src=$1 dest=$2 mode=$3
    if [[ -e "$dest" ]] && ! cmp -s "$src" "$dest"; then
        [[ -n "${FORCE:-}" ]] || die "$dest exists and differs (FORCE=1 to replace it)"
    fi
    install -D -m "$mode" "$src" "$dest"
    log "  $dest"
}

cmd_install_server() {
    (($# >= 1 && $# <= 2)) || usage
    local src="$DIR/servers/$1" root=${2:-/}
    [[ -s "$src/servercert.pem" ]] || die "no server $1 in $DIR/servers (run '$0 server $1')"
    log "server $1 into $root:"
    put "$src/cacert.pem" "$root/etc/pki/CA/cacert.pem" 0644
    put "$src/servercert.pem" "$root/etc/pki/libvirt/servercert.pem" 0644
    put "$src/serverkey.pem" "$root/etc/pki/libvirt/private/serverkey.pem" 0600
    log "then in libvirtd.conf: listen_tls = 1 (and tls_allowed_dn_list), start libvirtd --listen"
}

cmd_install_client() {
    (($# >= 1 && $# <= 2)) || usage
    local src="$DIR/clients/$1" dest=${2:-}
    [[ -s "$src/clientcert.pem" ]] || die "no client $1 in $DIR/clients (run '$0 client $1')"
    if [[ -n "$dest" ]]; then
        log "client $1 into $dest (use ?pkipath=$dest):"
        put "$src/cacert.pem" "$dest/cacert.pem" 0644
        put "$src/clientcert.pem" "$dest/clientcert.pem" 0644
        put "$src/clientkey.pem" "$dest/clientkey.pem" 0600
    elif [[ $(id -u) -eq 0 ]]; then
        log "client $1 into /etc/pki (libvirt's defaults for root):"
        put "$src/cacert.pem" /etc/pki/CA/cacert.pem 0644
        put "$src/clientcert.pem" /etc/pki/libvirt/clientcert.pem 0644
        put "$src/clientkey.pem" /etc/pki/libvirt/private/clientkey.pem 0600
    else
        log "client $1 into ~/.pki/libvirt (libvirt's defaults for $(id -un)):"
        put "$src/cacert.pem" "$HOME/.pki/libvirt/cacert.pem" 0644
        put "$src/clientcert.pem" "$HOME/.pki/libvirt/clientcert.pem" 0644
        put "$src/clientkey.pem" "$HOME/.pki/libvirt/clientkey.pem" 0600
    fi
}

# The app's containers run as uid/gid 10001 (Dockerfile): a 0600 key of the operator's (or
# root's) is unreadable there. The compose copy of the client key is 0640 with that group, the
# owner unchanged, so that the container's user reads it and nobody else does.
cmd_compose() {
    (($# == 2)) || usage
    local client="$DIR/clients/$1" server="$DIR/servers/$2" out="$DIR/compose"
    local gid=${NUAGE_CONTAINER_GID:-10001}
    [[ -s "$client/clientcert.pem" ]] || die "no client $1 in $DIR/clients (run '$0 client $1')"
    [[ -s "$server/servercert.pem" ]] || die "no server $2 in $DIR/servers (run '$0 server $2')"
    [[ $(id -u) -eq 0 ]] || die "run as root: the client key must belong to group $gid"
    install -d -m 0755 "$out"
    install -d -m 0750 -g "$gid" "$out/client"
    log "client $1 for the app's containers (group $gid): $out/client"
    FORCE=1 put "$client/cacert.pem" "$out/client/cacert.pem" 0644
    FORCE=1 put "$client/clientcert.pem" "$out/client/clientcert.pem" 0644
    FORCE=1 put "$client/clientkey.pem" "$out/client/clientkey.pem" 0640
    chgrp "$gid" "$out/client/clientkey.pem"
    install -d -m 0700 "$out/server"
    log "server $2 for the libvirt container: $out/server"
    FORCE=1 put "$DIR/ca/cacert.pem" "$out/server/cacert.pem" 0644
    FORCE=1 put "$server/servercert.pem" "$out/server/servercert.pem" 0644
    FORCE=1 put "$server/serverkey.pem" "$out/server/serverkey.pem" 0600
}

(($# >= 1)) || usage
command=$1
shift
case "$command" in
    ca) (($# == 0)) || usage; cmd_ca ;;
    server) cmd_server "$@" ;;
    client) cmd_client "$@" ;;
    install-server) cmd_install_server "$@" ;;
    install-client) cmd_install_client "$@" ;;
    compose) cmd_compose "$@" ;;
    -h|--help|help) usage 0 ;;
    *) usage ;;
esac
