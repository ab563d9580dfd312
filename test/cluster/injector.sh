#!/usr/bin/env bash
# Deploys the vaultkube injector in the local cluster (namespace vaultkube) with a serving
# certificate made here, and registers it for pods in namespaces labelled
# vaultkube.io/inject=enabled. Usage: test/cluster/injector.sh [up|down]
# The e2e suite uses it; `make demo` installs the chart instead (test/cluster/chart.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. test/cluster/env.sh
NS=vaultkube
case ${1:-up} in
  up)
    d=$VK_STATE/injector-pki
    mkdir -p "$d"
    chmod 700 "$d"
    if [ ! -f "$d/tls.crt" ]; then
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=vaultkube-injector-ca" \
        -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
      openssl req -newkey rsa:2048 -nodes -subj "/CN=vaultkube-injector.$NS.svc" \
        -keyout "$d/tls.key" -out "$d/tls.csr" 2>/dev/null
      printf 'subjectAltName=DNS:vaultkube-injector.%s.svc,DNS:vaultkube-injector.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\n' "$NS" "$NS" >"$d/ext"
      openssl x509 -req -in "$d/tls.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
        -extfile "$d/ext" -out "$d/tls.crt" 2>/dev/null
      chmod 600 "$d"/*.key
    fi
    kubectl_vk create namespace "$NS" --dry-run=client -o yaml | kubectl_vk apply -f - >/dev/null
    kubectl_vk -n "$NS" create secret tls vaultkube-injector-tls --cert "$d/tls.crt" --key "$d/tls.key" \
      --dry-run=client -o yaml | kubectl_vk apply -f - >/dev/null
    sed "s|@CA_BUNDLE@|$(base64 -w0 <"$d/ca.crt")|" test/cluster/manifests/injector.yaml | kubectl_vk apply -f - >/dev/null
    kubectl_vk -n "$NS" rollout restart deploy/vaultkube-injector >/dev/null
    kubectl_vk -n "$NS" rollout status deploy/vaultkube-injector --timeout 120s >/dev/null
    log "injector running in namespace $NS"
    ;;
  down)
    kubectl_vk delete mutatingwebhookconfiguration vaultkube-injector --ignore-not-found >/dev/null
    kubectl_vk delete namespace "$NS" --ignore-not-found --timeout 60s >/dev/null
    ;;
  *) die "usage: test/cluster/injector.sh [up|down]" ;;
esac
