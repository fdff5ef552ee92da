#!/bin/sh
# Make the TLS files for deploy/docker-compose.yml with openssl alone:
#   a CA; a server certificate for the replicas; a client certificate for the health probe;
#   client certificates for callers (CN "admin": it acts as the service account "admin").
#
#   usage: deploy/make-certs.sh [OUT_DIR [EXTRA_SERVER_NAME...]]     (OUT_DIR default: certs)
#   e.g.   deploy/make-certs.sh deploy/certs civitas.example.gov 10.0.0.7
#          CIVITAS_CLIENTS="admin tax-portal" deploy/make-certs.sh deploy/certs
#   CIVITAS_CLIENTS: the accounts to make client certificates for (default: admin)
#   CIVITAS_CERT_DAYS: how long the certificates are valid (default 365; the CA ten times that)
#
# Run it again to renew every certificate with the same CA (callers keep trusting ca.pem).
#
# OUT_DIR/            mode 0700: the only protection of everything below it on this machine
#   ca.key            the CA's key: keep it here or offline, never in a container
#   ca.pem            give it to callers, who check the servers against it
#   admin.pem/.key    a client certificate (one pair per name in CIVITAS_CLIENTS), mode 0600 key
#   server/           mounted read-only into the containers as /etc/civitas/tls
#     ca.pem server.pem server.key healthcheck.pem healthcheck.key
# The keys in server/ are mode 0644 so that the containers' user (uid 10001), which is not the
# owner of a bind-mounted file, can read them; OUT_DIR's 0700 keeps other local users out.
set -eu

out=${1:-certs}
[ "$#" -gt 0 ] && shift
days=${CIVITAS_CERT_DAYS:-365}
clients=${CIVITAS_CLIENTS:-admin}
for client in $clients; do
    case $client in
        ca | civitas-healthcheck)  # would overwrite the CA's key, or pose as the health probe
            echo "make-certs.sh: $client is reserved here" >&2
            exit 2 ;;
        -* | *[!a-z0-9-]*)
            echo "make-certs.sh: $client is not a service account name ([a-z0-9-])" >&2
            exit 2 ;;
    esac
done

umask 077
mkdir -p "$out/server"
chmod 700 "$out"
chmod 755 "$out/server"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

quietly() {  # openssl chatters on stderr even when all is well: show it only on failure
    "$@" 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }
}

new_key() {  # P-256: small, fast, and accepted by every gRPC implementation
    quietly openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# sign NAME COMMON_NAME KEY CERT EXTENSIONS...: a certificate for KEY, signed by the CA
sign() {
    name=$1 cn=$2 key=$3 cert=$4
    shift 4
    printf '%s\n' "$@" > "$work/$name.ext"
    quietly openssl req -new -key "$key" -subj "/CN=$cn" -out "$work/$name.csr"
    quietly openssl x509 -req -in "$work/$name.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days "$days" -sha256 \
        -extfile "$work/$name.ext" -out "$cert"
}

if [ -f "$out/ca.key" ]; then
    echo "using the existing CA in $out (delete $out/ca.key to start a new one)"
else
    new_key "$out/ca.key"
    quietly openssl req -new -key "$out/ca.key" -subj "/CN=Civitas deployment CA" \
        -out "$work/ca.csr"
    printf '%s\n' "basicConstraints = critical, CA:true, pathlen:0" \
        "keyUsage = critical, keyCertSign, cRLSign" "subjectKeyIdentifier = hash" > "$work/ca.ext"
    quietly openssl x509 -req -in "$work/ca.csr" -signkey "$out/ca.key" \
        -days $((days * 10)) -sha256 -extfile "$work/ca.ext" -out "$out/ca.pem"
fi

# The names callers reach the servers by: the compose services, and localhost for the health
# probe inside each container and for the published ports.
names="DNS:civitas-1, DNS:civitas-2, DNS:civitas, DNS:localhost, IP:127.0.0.1, IP:::1"
for extra in "$@"; do
    case $extra in
        *:*) kind=IP ;;  # IPv6
        *[!0-9.]*) kind=DNS ;;
        *) kind=IP ;;
    esac
    names="$names, $kind:$extra"
done

leaf="basicConstraints = critical, CA:false"
usage="keyUsage = critical, digitalSignature"
ids="subjectKeyIdentifier = hash"
issuer="authorityKeyIdentifier = keyid"
new_key "$out/server/server.key"
sign server civitas-server "$out/server/server.key" "$out/server/server.pem" \
    "$leaf" "$usage" "$ids" "$issuer" "extendedKeyUsage = serverAuth" "subjectAltName = $names"
# No account has this name, so the probe's certificate opens the health service and nothing else.
new_key "$out/server/healthcheck.key"
sign healthcheck civitas-healthcheck "$out/server/healthcheck.key" "$out/server/healthcheck.pem" \
    "$leaf" "$usage" "$ids" "$issuer" "extendedKeyUsage = clientAuth"
# A caller's certificate names its service account (CN), so one per account that calls.
for client in $clients; do
    new_key "$out/$client.key"
    sign "$client" "$client" "$out/$client.key" "$out/$client.pem" \
        "$leaf" "$usage" "$ids" "$issuer" "extendedKeyUsage = clientAuth"
    chmod 644 "$out/$client.pem"
done

cp "$out/ca.pem" "$out/server/ca.pem"
chmod 644 "$out/ca.pem" "$out/server/"*

echo "wrote $out: ca.pem; client certificates for: $clients; server/ (for the containers)"
echo "server names: $names"
