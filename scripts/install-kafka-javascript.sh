#!/usr/bin/env bash
# Builds @confluentinc/kafka-javascript (librdkafka 2.15, the KIP-848 and KIP-714 client) into .cache/kafka-javascript,
# outside the project's node_modules so `npm install` stays quick. Its prebuilt binaries come from GitHub and its
# default source build downloads zlib/openssl/zstd/curl; CKJS_LINKING=dynamic builds the bundled librdkafka against
# Debian's -dev packages instead (scripts/setup.sh installs them). Started in the background by setup.sh; the tests
# that need it wait for .cache/kafka-javascript/status (test/helpers/kafka-javascript.ts). Idempotent.
set -uo pipefail
cd "$(dirname "$0")/.."
version="${KAFKA_JAVASCRIPT_VERSION:-1.10.1}"
prefix=.cache/kafka-javascript
mkdir -p "$prefix"
if [ -f "$prefix/status" ] && [ "$(cat "$prefix/status")" = "ok $version" ]; then exit 0; fi
rm -f "$prefix/status"
echo $$ >"$prefix/pid"
started=$(date +%s)
[ -f "$prefix/package.json" ] || echo '{"name":"bunka-kafka-javascript","private":true}' >"$prefix/package.json"
if CKJS_LINKING=dynamic npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error --no-save "@confluentinc/kafka-javascript@$version" >"$prefix/install.log" 2>&1 \
  && (cd "$prefix" && node -e 'const k=require("@confluentinc/kafka-javascript"); console.log("librdkafka", k.librdkafkaVersion)') >>"$prefix/install.log" 2>&1; then
  echo "ok $version" >"$prefix/status.tmp"
else
  echo "failed $version (see $prefix/install.log)" >"$prefix/status.tmp"
fi
echo "$(( $(date +%s) - started ))" >"$prefix/seconds"
mv "$prefix/status.tmp" "$prefix/status"
rm -f "$prefix/pid"
