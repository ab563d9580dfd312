#!/usr/bin/env bash
# The main job, end to end on this machine: the local cluster, Vault as the official chart
# deploys it (3 raft pods) initialised and unsealed with `kubectl vault`, the vaultkube
# Secrets Store CSI Driver, vaultkube installed with its Helm chart (injector and CSI
# provider), and pods that receive a secret from Vault three ways: a file rendered by the
# injected agent, env mode, and a CSI volume (plus the Kubernetes Secret the driver syncs).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib.sh
. test/cluster/env.sh
T0=$(date +%s)
KV=(bin/kubectl-vault --kubeconfig "$VK_KUBECONFIG" -n vault)
[ -x bin/kubectl-vault ] || die "bin/kubectl-vault is missing: run 'make build'"

timed "cluster" test/cluster/up.sh 2
timed "images" test/cluster/images.sh vaultkube
timed "vault pods" test/cluster/vault.sh up

# --- init and unseal with kubectl vault; the keys stay in a 0600 file ---------------------
INIT=$VK_STATE/vault-init.json
if [ ! -s "$INIT" ]; then
  log "kubectl vault init (keys and root token into $INIT, 0600)"
  "${KV[@]}" init --key-shares 3 --key-threshold 2 --keys-out "$INIT"
fi
log "kubectl vault unseal"
"${KV[@]}" unseal --keys-file "$INIT"

# --- configure Vault: KV secret, Kubernetes auth, a policy and a role ----------------------
# The root token goes on the exec's stdin (first line); the script in argv holds no secret.
ROOT=$(sed -n 's/.*"root_token": *"\([^"]*\)".*/\1/p' "$INIT")
[ -n "$ROOT" ] || die "no root_token in $INIT"
ACTIVE=$(kubectl_vk -n vault get pods -l vault-active=true -o jsonpath='{.items[0].metadata.name}' 2>/dev/null || true)
ACTIVE=${ACTIVE:-vault-0}
log "configuring Vault through $ACTIVE: kv-v2 at secret/, secret/demo, Kubernetes auth, role demo"
printf '%s\n' "$ROOT" | kubectl_vk -n vault exec -i "$ACTIVE" -c vault -- /bin/sh -ec '
read -r VAULT_TOKEN; export VAULT_TOKEN
vault secrets list -format=json | grep -q "\"secret/\"" || vault secrets enable -path=secret kv-v2 >/dev/null
vault kv put secret/demo username=demo-user password=s3cr3t-from-vault >/dev/null
vault auth list -format=json | grep -q "\"kubernetes/\"" || vault auth enable kubernetes >/dev/null
vault write auth/kubernetes/config kubernetes_host=https://kubernetes.default.svc >/dev/null
printf "path \"secret/data/demo\" { capabilities = [\"read\"] }\n" | vault policy write demo - >/dev/null
vault write auth/kubernetes/role/demo bound_service_account_names=demo bound_service_account_namespaces=demo token_policies=demo ttl=1h audience=vault >/dev/null
'
unset ROOT

timed "csi driver" test/cluster/csi.sh up
timed "vaultkube chart" test/cluster/chart.sh up

# --- the demo pods ----------------------------------------------------------------------------
kubectl_vk -n demo delete pod demo demo-env --ignore-not-found --wait=true >/dev/null 2>&1 || true
# Retry while kube-proxy programs the injector's new endpoints.
wait_for "the injector to admit the demo pods" 60 kubectl_vk apply -f test/cluster/manifests/demo.yaml
kubectl_vk -n demo wait --for=condition=Ready pod/demo pod/demo-env --timeout 180s >/dev/null
wait_for "the driver to sync Secret demo/demo-synced" 60 kubectl_vk -n demo get secret demo-synced
env_app_started() { kubectl_vk -n demo logs demo-env -c app | grep -q DEMO_USERNAME=; }
wait_for "the env-mode app to print its variable" 60 env_app_started
log "pod demo/demo: $(kubectl_vk -n demo get pod demo -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}'); pod demo/demo-env: $(kubectl_vk -n demo get pod demo-env -o jsonpath='{.spec.initContainers[*].name} {.spec.containers[*].name}')"

cat <<TXT

== vaultkube demo ready in $(($(date +%s) - T0))s ==
Started (all inside the network namespace '$VK_NETNS', node address $VK_NODE_IP):
  etcd, kube-apiserver (https://$VK_NODE_IP:6443), kube-controller-manager, kube-scheduler,
  containerd + runc, kubelet, kube-proxy, CoreDNS; Vault (StatefulSet vault, 3 raft pods,
  unsealed); the Secrets Store CSI Driver (kube-system); vaultkube from its Helm chart
  (release vaultkube in namespace vaultkube-system: the injector and the CSI provider).
  Logs: $VK_STATE/logs   Keys and root token: $INIT (0600)

1. A file rendered by the injected agent (pod demo, /vault/secrets/demo):
$(kubectl_vk -n demo exec demo -c app -- /bin/cat /vault/secrets/demo)

2. Env mode (pod demo-env: the agent started the app with the secret in its environment;
   the pod spec holds none of it):
$(kubectl_vk -n demo logs demo-env -c app | grep DEMO_USERNAME=)

3. A CSI volume (pod demo, /mnt/secrets/username, served by the chart's CSI provider):
$(kubectl_vk -n demo exec demo -c app -- /bin/cat /mnt/secrets/username)
   and the Kubernetes Secret demo-synced that the driver keeps in step with it:
$(kubectl_vk -n demo get secret demo-synced -o jsonpath='{.data.username}' | base64 -d)

Try:
  export KUBECONFIG=$VK_KUBECONFIG PATH=$VK_BIN:\$PATH
  bin/kubectl-vault -n vault status
  kubectl -n demo exec demo -c app -- cat /vault/secrets/demo
  kubectl -n demo exec demo -c app -- ls -l /mnt/secrets
  $VK_BIN/helm -n vaultkube-system status vaultkube
  make cluster-down        # stop everything
TXT
