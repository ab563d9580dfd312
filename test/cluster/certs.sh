#!/usr/bin/env bash
# Generates the local cluster's PKI under $VK_STATE/pki with openssl: a CA, the apiserver's
# serving certificate, client certificates for every component and the admin, the kubelet's
# serving certificate, and the service-account signing key pair. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. test/cluster/env.sh
command -v openssl >/dev/null || die "openssl is missing: apt-get install -y openssl"
P=$VK_STATE/pki
mkdir -p "$P"
chmod 700 "$P"
cd "$P"
[ -f ca.key ] || {
  openssl genrsa -out ca.key 2048 2>/dev/null
  openssl req -x509 -new -key ca.key -days 3650 -subj "/CN=vaultkube-local-ca" -out ca.crt 2>/dev/null
}
[ -f sa.key ] || {
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
}
# cert NAME SUBJECT [SAN]: a key and a CA-signed certificate.
cert() {
  local name=$1 subj=$2 san=${3:-}
  [ -f "$name.crt" ] && return 0
  openssl genrsa -out "$name.key" 2048 2>/dev/null
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$san" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$san"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}
cert apiserver "/CN=kube-apiserver" \
  "IP:$VK_NODE_IP,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost"
cert kubelet "/CN=$VK_NODE_NAME" "IP:$VK_NODE_IP,DNS:$VK_NODE_NAME"
cert admin "/O=system:masters/CN=vaultkube-admin"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert controller-manager "/CN=system:kube-controller-manager"
cert scheduler "/CN=system:kube-scheduler"
cert node "/O=system:nodes/CN=system:node:$VK_NODE_NAME"
cert proxy "/CN=system:kube-proxy"
chmod 600 ./*.key

# kubeconfig NAME CERT SERVER
kubeconfig() {
  local out=$1 crt=$2 server=${3:-https://$VK_NODE_IP:6443}
  cat >"$out" <<KC
apiVersion: v1
kind: Config
clusters:
- name: vaultkube
  cluster:
    server: $server
    certificate-authority: $P/ca.crt
users:
- name: $crt
  user:
    client-certificate: $P/$crt.crt
    client-key: $P/$crt.key
contexts:
- name: vaultkube
  context: {cluster: vaultkube, user: $crt}
current-context: vaultkube
KC
  chmod 600 "$out"
}
kubeconfig "$VK_KUBECONFIG" admin
kubeconfig "$VK_STATE/controller-manager.kubeconfig" controller-manager
kubeconfig "$VK_STATE/scheduler.kubeconfig" scheduler
kubeconfig "$VK_STATE/kubelet.kubeconfig" node
kubeconfig "$VK_STATE/proxy.kubeconfig" proxy
