#!/usr/bin/env bash
# Starts the local cluster: real etcd + kube-apiserver (level 1), plus controller-manager,
# scheduler, containerd + runc, kubelet, kube-proxy and CoreDNS so that real pods run
# (level 2), all inside the network namespace "vaultkube" (node address 10.250.0.2).
# Usage: test/cluster/up.sh [1|2]   (default 2). Safe to run twice: a healthy cluster is reused,
# leftovers of a dead one are cleaned first.
set -euo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. test/cluster/env.sh
LEVEL=${1:-${VAULTKUBE_LEVEL:-2}}
case $LEVEL in 1|2) ;; *) die "level must be 1 or 2, not '$LEVEL'" ;; esac
T0=$(date +%s)

[ "$(id -u)" = 0 ] || die "the local cluster needs root (network namespace, containerd, kubelet)"
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing: $2"; }
need ip "apt-get install -y iproute2"
need nsenter "apt-get install -y util-linux"
need openssl "apt-get install -y openssl"
for b in etcd kube-apiserver kubectl; do
  [ -x "$VK_BIN/$b" ] || die "$VK_BIN/$b is missing: run 'make deps' (hack/build-deps.sh builds it)"
done
if [ "$LEVEL" = 2 ]; then
  need containerd "run 'make deps' (hack/install-packages.sh installs containerd, runc, CNI plugins)"
  need runc "run 'make deps'"
  need iptables "run 'make deps'"
  need conntrack "run 'make deps'"
  [ -x /usr/lib/cni/bridge ] || die "CNI plugins are missing: run 'make deps' (containernetworking-plugins)"
  for b in kube-controller-manager kube-scheduler kubelet kube-proxy coredns secrets-store-csi-driver; do
    [ -x "$VK_BIN/$b" ] || die "$VK_BIN/$b is missing: run 'make deps'"
  done
fi

healthy() { kubectl_vk get --raw /readyz >/dev/null 2>&1; }
if running kube-apiserver && healthy; then
  if [ "$LEVEL" = 1 ] || { running kubelet && running containerd; }; then
    log "cluster already running (level $(cat "$VK_STATE/level" 2>/dev/null || echo "?")); reusing it"
    exit 0
  fi
elif [ -d "$VK_STATE" ] || ip netns list | grep -qw "$VK_NETNS"; then
  log "cleaning leftovers of an earlier cluster"
  test/cluster/down.sh
fi

# --- network namespace: the node ----------------------------------------------------------
mkdir -p "$VK_STATE"
ip netns add "$VK_NETNS"
ip link add vk-host type veth peer name vk-node
ip link set vk-node netns "$VK_NETNS"
ip addr add "$VK_HOST_IP/30" dev vk-host
ip link set vk-host up
"${NSENTER[@]}" ip addr add "$VK_NODE_IP/30" dev vk-node
"${NSENTER[@]}" ip link set vk-node up
"${NSENTER[@]}" ip link set lo up
# No default route inside: nothing leaves the machine.
test/cluster/certs.sh
P=$VK_STATE/pki

# --- level 1: etcd + kube-apiserver --------------------------------------------------------
start etcd "$VK_BIN/etcd" --name vk --data-dir "$VK_STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster vk=http://127.0.0.1:2380 --unsafe-no-fsync --quota-backend-bytes 2147483648
start kube-apiserver "$VK_BIN/kube-apiserver" \
  --etcd-servers http://127.0.0.1:2379 \
  --bind-address "$VK_NODE_IP" --advertise-address "$VK_NODE_IP" --secure-port 6443 \
  --tls-cert-file "$P/apiserver.crt" --tls-private-key-file "$P/apiserver.key" \
  --client-ca-file "$P/ca.crt" \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$P/sa.pub" --service-account-signing-key-file "$P/sa.key" \
  --service-cluster-ip-range "$VK_SERVICE_CIDR" \
  --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
  --kubelet-client-certificate "$P/apiserver-kubelet-client.crt" \
  --kubelet-client-key "$P/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority "$P/ca.crt" \
  --kubelet-preferred-address-types InternalIP,Hostname \
  --allow-privileged=true --profiling=false
wait_for "kube-apiserver" 120 healthy
echo 1 >"$VK_STATE/level"
log "level 1 ready: kube-apiserver at https://$VK_NODE_IP:6443 ($(($(date +%s) - T0))s)"
[ "$LEVEL" = 1 ] && exit 0

# --- level 2: the rest of the control plane and a node -------------------------------------
"${NSENTER[@]}" sysctl -qw net.ipv4.ip_forward=1
start kube-controller-manager "$VK_BIN/kube-controller-manager" \
  --kubeconfig "$VK_STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig "$VK_STATE/controller-manager.kubeconfig" \
  --authorization-kubeconfig "$VK_STATE/controller-manager.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false --use-service-account-credentials \
  --service-account-private-key-file "$P/sa.key" --root-ca-file "$P/ca.crt" \
  --cluster-signing-cert-file "$P/ca.crt" --cluster-signing-key-file "$P/ca.key" \
  --service-cluster-ip-range "$VK_SERVICE_CIDR" --enable-hostpath-provisioner
start kube-scheduler "$VK_BIN/kube-scheduler" --kubeconfig "$VK_STATE/scheduler.kubeconfig" \
  --authentication-kubeconfig "$VK_STATE/scheduler.kubeconfig" \
  --authorization-kubeconfig "$VK_STATE/scheduler.kubeconfig" \
  --bind-address 127.0.0.1 --leader-elect=false

C=$VK_STATE/containerd
mkdir -p "$C" "$VK_STATE/cni/net.d"
cat >"$VK_STATE/cni/net.d/10-vaultkube.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "vaultkube",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$VK_POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$VK_STATE/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
CNI
cat >"$C/config.toml" <<TOML
version = 2
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$C/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "vaultkube.local/pause:dev"
  # No CAP_SYS_RESOURCE on this machine kind: runc cannot lower oom_score_adj otherwise.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$VK_STATE/cni/net.d"
TOML
start containerd containerd --config "$C/config.toml"
wait_for containerd 30 test -S "$C/containerd.sock"

# Images: built here as archives (hack/mkimage) and imported; pods never pull.
timed "images" test/cluster/images.sh

K=$VK_STATE/kubelet
mkdir -p "$K/root"
# kubelet's root dir as a mount of its own with shared propagation, in a peer group of its own:
# a CSI driver's `mountPropagation: Bidirectional` on <root>/pods needs it (the runtime refuses a
# Bidirectional mount whose source is not on a shared mount), so that the tmpfs the driver
# mounts inside its container reaches kubelet and the pod. down.sh unmounts it.
if ! mountpoint -q "$K/root"; then
  mount --bind "$K/root" "$K/root"
  mount --make-private "$K/root"
fi
mount --make-rshared "$K/root"
cat >"$K/config.yaml" <<KUBELET
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $VK_NODE_IP
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $P/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [$VK_DNS_IP]
clusterDomain: cluster.local
containerRuntimeEndpoint: unix://$C/containerd.sock
tlsCertFile: $P/kubelet.crt
tlsPrivateKeyFile: $P/kubelet.key
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
resolvConf: $K/resolv.conf
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
KUBELET
: >"$K/resolv.conf"
start kubelet "$VK_BIN/kubelet" --config "$K/config.yaml" --kubeconfig "$VK_STATE/kubelet.kubeconfig" \
  --root-dir "$K/root" --node-ip "$VK_NODE_IP" --hostname-override "$VK_NODE_NAME" \
  --cert-dir "$K/pki"

kubectl_vk apply -f test/cluster/manifests/kube-proxy-rbac.yaml >/dev/null
start kube-proxy "$VK_BIN/kube-proxy" --kubeconfig "$VK_STATE/proxy.kubeconfig" \
  --hostname-override "$VK_NODE_NAME" --proxy-mode iptables --cluster-cidr "$VK_POD_CIDR" \
  --bind-address 127.0.0.1 --metrics-bind-address 127.0.0.1:10249 --healthz-bind-address 127.0.0.1:10256 \
  --conntrack-max-per-core 0

wait_for "node $VK_NODE_NAME Ready" 120 \
  sh -c "'$VK_BIN/kubectl' --kubeconfig '$VK_KUBECONFIG' get node $VK_NODE_NAME -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
# Let the node reach ClusterIPs (the apiserver calling a webhook Service) through the bridge.
kubectl_vk apply -f test/cluster/manifests/storage.yaml -f test/cluster/manifests/coredns.yaml >/dev/null
kubectl_vk -n kube-system rollout status deploy/coredns --timeout 120s >/dev/null
"${NSENTER[@]}" ip route replace "$VK_SERVICE_CIDR" dev cni0 2>/dev/null || true
echo 2 >"$VK_STATE/level"
log "level 2 ready: node $VK_NODE_NAME, CoreDNS at $VK_DNS_IP ($(($(date +%s) - T0))s)"
