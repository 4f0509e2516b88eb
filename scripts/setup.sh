#!/usr/bin/env bash
# Installs everything Bunka's tests and benchmarks need on a fresh Debian machine with Node and npm:
# Bun and the npm dependencies from the npm registry, kcat, etcd and Chromium (the console's browser tests)
# from Debian's packages, and @confluentinc/kafka-javascript (librdkafka 2.15, the KIP-848/KIP-714 client the
# tests drive under Node), built in the background against Debian's -dev packages (scripts/install-kafka-javascript.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || need_apt+=(etcd-client)
command -v cc >/dev/null 2>&1 || need_apt+=(gcc libc6-dev)
# librdkafka's headers: test/integration/transactions-kcat.test.ts compiles a librdkafka transactional producer.
[ -f /usr/include/librdkafka/rdkafka.h ] || need_apt+=(librdkafka-dev)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# What @confluentinc/kafka-javascript's bundled librdkafka links against with CKJS_LINKING=dynamic.
command -v g++ >/dev/null 2>&1 || need_apt+=(g++ make python3)
[ -f /usr/include/openssl/ssl.h ] || need_apt+=(libssl-dev)
[ -f /usr/include/zstd.h ] || need_apt+=(libzstd-dev)
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
[ -f /usr/include/sasl/sasl.h ] || need_apt+=(libsasl2-dev)
[ -f /usr/include/lz4.h ] || need_apt+=(liblz4-dev)
[ -n "$(ls /usr/include/*/curl/curl.h /usr/include/curl/curl.h 2>/dev/null)" ] || need_apt+=(libcurl4-openssl-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
  echo "setup: installing ${need_apt[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
# librdkafka 2.15 via @confluentinc/kafka-javascript: about a minute of compiling on an idle 2-core machine,
# so it runs in the background while the tests start; the tests that need it wait for it (bounded).
mkdir -p .cache/kafka-javascript
if [ "${KAFKA_JAVASCRIPT_FOREGROUND:-}" = "1" ]; then
  bash scripts/install-kafka-javascript.sh
else
  nohup bash scripts/install-kafka-javascript.sh </dev/null >/dev/null 2>&1 &
  echo $! >.cache/kafka-javascript/pid # before the tests look for it
  echo "setup: building @confluentinc/kafka-javascript in the background (.cache/kafka-javascript/install.log)"
fi
echo "setup: bun $(./node_modules/.bin/bun --version), kcat $(kcat -V 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1)"
