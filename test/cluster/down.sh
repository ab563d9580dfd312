#!/usr/bin/env bash
# Stops every process the local cluster started (by recorded PID), the containers and their
# shims, unmounts what kubelet and containerd mounted, deletes the network namespaces and
# removes the cluster's state. Safe to run when nothing is running.
set -uo pipefail
cd "$(dirname "$0")/../.."
. hack/lib.sh
. test/cluster/env.sh

# Processes we started, most dependent first.
for n in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
  [ -f "$VK_PIDS/$n" ] && kill "$(cat "$VK_PIDS/$n")" 2>/dev/null
done
# Containers: every process in a kubepods cgroup, then the shims of our containerd.
for f in $(find /sys/fs/cgroup/pids/kubepods /sys/fs/cgroup/memory/kubepods -name cgroup.procs 2>/dev/null); do
  [ -f "$f" ] && xargs -r kill -9 <"$f" 2>/dev/null
done
pkill -9 -f "containerd-shim.*-address $VK_STATE/containerd/containerd.sock" 2>/dev/null
[ -f "$VK_PIDS/containerd" ] && kill "$(cat "$VK_PIDS/containerd")" 2>/dev/null
sleep 1
for n in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd containerd; do
  [ -f "$VK_PIDS/$n" ] && kill -9 "$(cat "$VK_PIDS/$n")" 2>/dev/null
done
# Processes the e2e suite started inside the node namespace (injector, local Vault).
pids=$(ip netns pids "$VK_NETNS" 2>/dev/null)
[ -n "$pids" ] && kill -9 $pids 2>/dev/null
# Empty pod cgroups that kubelet created (never the machine's own).
for ctl in /sys/fs/cgroup/*/; do
  [ -d "$ctl/kubepods" ] && find "$ctl/kubepods" -depth -type d -exec rmdir {} \; 2>/dev/null
done
# Mounts under the state dir, deepest first, and CNI's network namespaces. Among them kubelet's
# root dir, which up.sh bind-mounts onto itself (rshared), and the tmpfs volumes a CSI driver
# mounted under it. A second pass catches what propagation brought back.
for _ in 1 2 3; do
  mounts=$(findmnt -rn -o TARGET | grep -E "^($VK_STATE|/run/netns/cni-|/run/containerd/io.containerd)" | sort -r)
  [ -z "$mounts" ] && break
  while read -r m; do umount -l "$m" 2>/dev/null; done <<<"$mounts"
done
left=$(findmnt -rn -o TARGET | grep "^$VK_STATE" | tr '\n' ' ')
[ -n "$left" ] && log "warning: still mounted under $VK_STATE: $left"
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^(cni-|$VK_NETNS\$)"); do
  ip netns del "$ns" 2>/dev/null
done
ip link del vk-host 2>/dev/null
rm -rf "$VK_STATE" /tmp/hostpath_pv
# Sockets that CSI providers left in the host's providers dir (test/cluster/csi.sh).
rm -f /var/run/secrets-store-csi-providers/*.sock 2>/dev/null
rmdir /var/run/secrets-store-csi-providers 2>/dev/null
log "local cluster stopped and its state removed"
exit 0
