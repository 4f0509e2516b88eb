#!/usr/bin/env bash
# Installs everything Bunka's tests and benchmarks need on a fresh Debian machine with Node and npm:
# Bun and the npm dependencies from the npm registry, kcat, etcd and Chromium (the console's browser tests)
# from Debian's packages.
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
echo "setup: bun $(./node_modules/.bin/bun --version), kcat $(kcat -V 2>&1 | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1)"
