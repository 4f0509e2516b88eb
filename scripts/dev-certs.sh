#!/bin/sh
# A development certificate authority, a broker certificate (SAN 127.0.0.1, localhost and any extra names
# given) and a client certificate, all PEM, made with Debian's openssl. For TLS on your own machine and in
# tests; never for production (the keys are unencrypted and the CA is made on the spot).
#
#   scripts/dev-certs.sh [DIR] [CLIENT_CN] [EXTRA_SAN...]
#     DIR        where to write (default ./certs)
#     CLIENT_CN  the client certificate's common name (default "client"); its principal is User:CN=<it>,OU=dev,O=Bunka
#     EXTRA_SAN  more subjectAltName entries for the broker, e.g. DNS:kafka.example IP:10.0.0.5
#
# Files: ca.pem ca-key.pem, broker.pem (chain: broker then CA) broker-key.pem broker-keystore.pem (key + chain,
# for ssl.keystore.location), client.pem client-key.pem.
set -eu
dir=${1:-./certs}
client_cn=${2:-client}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
days=825
mkdir -p "$dir"
cd "$dir"

san="DNS:localhost,IP:127.0.0.1"
for extra in "$@"; do san="$san,$extra"; done

# The CA: a self-signed certificate allowed to sign others.
openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
  -keyout ca-key.pem -out ca.pem -subj "/O=Bunka/CN=Bunka development CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# sign NAME SUBJECT EXTENSIONS: a key and a CA-signed certificate.
sign() {
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$1-key.pem" -out "$1.csr" -subj "$2" 2>/dev/null
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -sha256 \
    -extfile "$1.ext" -out "$1-leaf.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

sign broker "/O=Bunka/OU=dev/CN=localhost" "subjectAltName=$san
extendedKeyUsage=serverAuth,clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
cat broker-leaf.pem ca.pem > broker.pem
cat broker-key.pem broker.pem > broker-keystore.pem
rm -f broker-leaf.pem

sign client "/O=Bunka/OU=dev/CN=$client_cn" "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature,keyEncipherment"
mv client-leaf.pem client.pem
rm -f ca.srl
chmod 600 ca-key.pem broker-key.pem broker-keystore.pem client-key.pem
echo "dev-certs: wrote ca.pem, broker.pem, broker-key.pem, broker-keystore.pem, client.pem, client-key.pem in $(pwd)"
