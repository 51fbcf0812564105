#!/bin/sh
# Makes the secret files authsvc needs in production mode, for docker-compose.yml:
# keyed-hash and key-encryption keys, an Ed25519 signing key, one API client and
# its key, the SMS webhook secret, and a local CA with certificates for authsvc
# (localhost) and mailpit. For trying authsvc out only: real deployments keep
# their secrets in a secret store (see docs/operations.md, "Secrets").
#
# Usage: init-secrets.sh DIR. Files that exist are kept, so the keys (and what
# Redis holds under them) survive `docker compose down && docker compose up`;
# delete DIR to start over. Needs sh, openssl, base64, sha256sum and od.
set -eu

dir=${1:?usage: init-secrets.sh DIR}
mkdir -p "$dir/signing-keys"
cd "$dir"
umask 077

# The service runs as 65532:65532 and reads its secrets through the group. Run
# as root (in the compose init container), the files belong to whoever owns
# this script, i.e. the checkout, so that the person who cloned it can read
# the API key and delete the folder without root.
owner=
if [ "$(id -u)" = 0 ]; then
	owner=$(stat -c %u "$0")
	parent=$(dirname "$PWD")
	if [ "$(stat -c %u "$parent")" = 0 ]; then chown "$owner" "$parent"; fi # made by Docker for the mount
	chown "$owner" .
fi
owned() { # owned MODE FILE...
	mode=$1
	shift
	if [ -n "$owner" ]; then chown "$owner:65532" "$@"; fi
	chmod "$mode" "$@"
}

rand() { head -c 32 /dev/urandom | base64; }

[ -s hmac-keys ] || printf 'compose1:%s\n' "$(rand)" >hmac-keys
[ -s kek ] || printf 'compose1:%s\n' "$(rand)" >kek
[ -s sms-webhook-secret ] || rand >sms-webhook-secret
[ -s signing-keys/compose.pem ] || openssl genpkey -algorithm ed25519 -out signing-keys/compose.pem

if [ ! -s api-key ] || [ ! -s clients.json ]; then
	key=$(head -c 32 /dev/urandom | base64 | tr -d '=+/')
	printf '%s\n' "$key" >api-key
	digest=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
	cat >clients.json <<EOF
{"clients": [{
  "id": "compose",
  "api_key_sha256": "$digest",
  "rpcs": ["*"],
  "audiences": ["crm", "orders"],
  "scopes": ["*"]
}]}
EOF
fi

# A local CA, and a certificate from it for each server name.
if [ ! -s ca.crt ]; then
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout ca.key -out ca.crt -days 825 -subj "/CN=authsvc compose CA" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
cert() { # cert NAME SAN
	[ -s "$1.crt" ] && return 0
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' "$2" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
		-days 825 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}
cert tls "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:authsvc"
cert mailpit "DNS:mailpit"

owned 0750 signing-keys
owned 0440 hmac-keys kek sms-webhook-secret clients.json signing-keys/compose.pem tls.key mailpit.key
owned 0400 ca.key
# What a person on the host needs: the CA to trust and the API key to call with.
owned 0444 ca.crt tls.crt mailpit.crt api-key
chmod 0755 .
echo "secrets in $dir: API key in api-key, CA certificate in ca.crt"
