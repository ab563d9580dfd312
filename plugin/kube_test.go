package plugin

import (
	"context"
	"io/fs"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func TestKubeClusterAccess(t *testing.T) {
	ctx := context.Background()
	three := int32(3)
	objs := []runtime.Object{
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "vault", Namespace: "vault"}, Spec: appsv1.StatefulSetSpec{Replicas: &three}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-vault-1", Namespace: "vault"}},
	}
	for _, name := range []string{"vault-0", "vault-1"} {
		p := fakePod(name)
		p.Labels = map[string]string{"app.kubernetes.io/name": "vault", "component": "server"}
		objs = append(objs, &p)
	}
	other := fakePod("web-0")
	other.Labels = map[string]string{"app.kubernetes.io/name": "web"}
	objs = append(objs, &other)
	cs := fake.NewClientset(objs...)
	k := &kube{cs: cs, ns: "vault", container: "vault", selector: DefaultSelector}

	pods, err := k.ListPods(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"vault-0", "vault-1"}, podNames(pods), "only the selector's pods")
	sel, err := labels.Parse(DefaultSelector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(labels.Set(pods[0].Labels)))

	n, err := k.StatefulSetReplicas(ctx, "vault")
	require.NoError(t, err)
	assert.Equal(t, int32(3), n)
	require.NoError(t, k.ScaleStatefulSet(ctx, "vault", 1))
	n, err = k.StatefulSetReplicas(ctx, "vault")
	require.NoError(t, err)
	assert.Equal(t, int32(1), n)

	ok, err := k.PVCExists(ctx, "data-vault-1")
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, k.DeletePVC(ctx, "data-vault-1"))
	ok, err = k.PVCExists(ctx, "data-vault-1")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, k.DeletePVC(ctx, "data-vault-1"), "an already deleted claim is fine (resume)")

	require.NoError(t, k.CreateSecret(ctx, "vault-init", map[string][]byte{InitSecretKey: []byte("{}")}))
	err = k.CreateSecret(ctx, "vault-init", map[string][]byte{InitSecretKey: []byte("{}")})
	assert.ErrorContains(t, err, "secret vault/vault-init already exists: it is never overwritten")
	data, err := k.GetSecret(ctx, "vault-init")
	require.NoError(t, err)
	assert.Equal(t, "{}", string(data[InitSecretKey]))
	s, err := cs.CoreV1().Secrets("vault").Get(ctx, "vault-init", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, "kubectl-vault", s.Labels["app.kubernetes.io/managed-by"])

	require.NoError(t, k.DeletePod(ctx, "vault-0"))
	pods, _ = k.ListPods(ctx)
	assert.Equal(t, []string{"vault-1"}, podNames(pods))
}

func TestNewKubeClusterNamespaceFromKubeconfig(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: u
  user: {token: "not-a-real-token"}
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: vault-ns}
current-context: ctx
`), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "vault-ns"},
		{[]string{"-n", "other"}, "other"},
	} {
		root, g := newRoot(genericiooptions.NewTestIOStreamsDiscard(), nil)
		require.NoError(t, root.PersistentFlags().Parse(append([]string{"--kubeconfig", kc}, tc.args...)))
		c, err := newKubeCluster(g)
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.Namespace)
		assert.NotNil(t, c.Exec)
		assert.NotNil(t, c.Workload)
	}
}

func TestKubeConfigMapStore(t *testing.T) {
	ctx := context.Background()
	k := &kube{cs: fake.NewClientset(), ns: "vault"}
	_, err := k.GetConfigMap(ctx, "j")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	require.NoError(t, k.PutConfigMap(ctx, "j", map[string]string{"a": "1"}))
	require.NoError(t, k.PutConfigMap(ctx, "j", map[string]string{"a": "2"}))
	d, err := k.GetConfigMap(ctx, "j")
	require.NoError(t, err)
	assert.Equal(t, "2", d["a"])
	require.NoError(t, k.DeleteConfigMap(ctx, "j"))
	assert.ErrorIs(t, k.DeleteConfigMap(ctx, "j"), fs.ErrNotExist)
}
