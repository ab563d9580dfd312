#!/usr/bin/env bash
# Deploys Vault in the local cluster as the official Helm chart does (namespace "vault",
# StatefulSet vault, 3 raft replicas) and waits for the 3 pods to run (sealed and not
# initialised: `kubectl vault init` is the next step). Usage: test/cluster/vault.sh [up|down]
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. test/cluster/env.sh
case ${1:-up} in
  up)
    kubectl_vk create namespace vault --dry-run=client -o yaml | kubectl_vk apply -f - >/dev/null
    kubectl_vk apply -f test/cluster/manifests/vault.yaml >/dev/null
    for i in 0 1 2; do
      wait_for "pod vault-$i to exist" 120 kubectl_vk -n vault get pod "vault-$i"
    done
    kubectl_vk -n vault wait --for=jsonpath='{.status.phase}'=Running pod -l app.kubernetes.io/name=vault,component=server --timeout 180s >/dev/null
    log "Vault pods running (sealed, not initialised): $(kubectl_vk -n vault get pods -o name | tr '\n' ' ')"
    ;;
  down)
    kubectl_vk delete namespace vault --wait=true --timeout 120s --ignore-not-found >/dev/null
    kubectl_vk delete clusterrolebinding vault-server-binding --ignore-not-found >/dev/null
    ;;
  *) die "usage: test/cluster/vault.sh [up|down]" ;;
esac
