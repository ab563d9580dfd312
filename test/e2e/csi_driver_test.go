//go:build e2e

package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	csiDriverName = "secrets-store.csi.k8s.io"
	csiNodeName   = "vk-node" // test/cluster/env.sh VK_NODE_NAME
)

// TestCSIDriver: the real secrets-store-csi-driver that test/cluster/csi.sh deploys is running,
// kubelet registered it through our registrar (its CSINode lists the driver with the node's
// ID, which kubelet got from the driver's NodeGetInfo), and the CSIDriver object says what
// the vaultkube provider relies on.
func TestCSIDriver(t *testing.T) {
	c := getCluster(t)
	c.requireLevel2(t)
	ctx := context.Background()

	ds, err := c.client.AppsV1().DaemonSets("kube-system").Get(ctx, "csi-secrets-store", metav1.GetOptions{})
	require.NoError(t, err, "the CSI driver is not deployed: run test/cluster/csi.sh up")
	require.GreaterOrEqual(t, ds.Status.DesiredNumberScheduled, int32(1))
	assert.Equal(t, ds.Status.DesiredNumberScheduled, ds.Status.NumberReady, "DaemonSet kube-system/csi-secrets-store not ready")

	var node *storagev1.CSINodeDriver
	require.Eventually(t, func() bool {
		n, err := c.client.StorageV1().CSINodes().Get(ctx, csiNodeName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		i := slices.IndexFunc(n.Spec.Drivers, func(d storagev1.CSINodeDriver) bool { return d.Name == csiDriverName })
		if i < 0 {
			return false
		}
		node = &n.Spec.Drivers[i]
		return true
	}, 60*time.Second, time.Second, "CSINode %s does not list %s", csiNodeName, csiDriverName)
	assert.Equal(t, csiNodeName, node.NodeID, "the driver's NodeGetInfo answers with --nodeid")

	d, err := c.client.StorageV1().CSIDrivers().Get(ctx, csiDriverName, metav1.GetOptions{})
	require.NoError(t, err)
	s := d.Spec
	require.NotNil(t, s.PodInfoOnMount)
	assert.True(t, *s.PodInfoOnMount, "podInfoOnMount")
	require.NotNil(t, s.AttachRequired)
	assert.False(t, *s.AttachRequired, "attachRequired")
	assert.Equal(t, []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecycleEphemeral}, s.VolumeLifecycleModes)
	require.Len(t, s.TokenRequests, 1)
	assert.Equal(t, "vault", s.TokenRequests[0].Audience)
	require.NotNil(t, s.ServiceAccountTokenInSecrets)
	assert.True(t, *s.ServiceAccountTokenInSecrets, "serviceAccountTokenInSecrets")
	require.NotNil(t, s.RequiresRepublish)
	assert.True(t, *s.RequiresRepublish, "requiresRepublish")

	// The driver's CRDs are served.
	rl, err := c.client.Discovery().ServerResourcesForGroupVersion("secrets-store.csi.x-k8s.io/v1")
	require.NoError(t, err)
	var served []string
	for _, r := range rl.APIResources {
		served = append(served, r.Name)
	}
	assert.Subset(t, served, []string{"secretproviderclasses", "secretproviderclasspodstatuses"})
}
