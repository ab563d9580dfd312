package plugin

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec, OIDC and other auth plugins of kubeconfigs
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/vaultkube/vaultkube/plugin/internal/poll"
)

// newKubeCluster builds the real cluster access from kubectl's flags.
func newKubeCluster(g *Globals) (*Cluster, error) {
	cfg, err := g.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	ns, _, err := g.ConfigFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	k := &kube{cfg: cfg, cs: cs, ns: ns, container: g.Container, selector: g.Selector}
	return &Cluster{Namespace: ns, Exec: k, Pods: k, Secrets: k, Forwarder: k, Deleter: k, Workload: k, ConfigMaps: k}, nil
}

// kube implements the cluster interfaces with client-go.
type kube struct {
	cfg       *restclient.Config
	cs        kubernetes.Interface
	ns        string
	container string
	selector  string
}

func (k *kube) ListPods(ctx context.Context) ([]corev1.Pod, error) {
	l, err := k.cs.CoreV1().Pods(k.ns).List(ctx, metav1.ListOptions{LabelSelector: k.selector})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// Exec runs cmd in the Vault container: websocket first, SPDY as fallback, as kubectl does.
func (k *kube) Exec(ctx context.Context, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	req := k.cs.CoreV1().RESTClient().Post().Resource("pods").Name(pod).Namespace(k.ns).SubResource("exec")
	req.VersionedParams(&corev1.PodExecOptions{
		Container: k.container,
		Command:   cmd,
		Stdin:     stdin != nil,
		Stdout:    stdout != nil,
		Stderr:    stderr != nil,
	}, scheme.ParameterCodec)
	spdyExec, err := remotecommand.NewSPDYExecutor(k.cfg, "POST", req.URL())
	if err != nil {
		return err
	}
	wsExec, err := remotecommand.NewWebSocketExecutor(k.cfg, "GET", req.URL().String())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(wsExec, spdyExec, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

func (k *kube) CreateSecret(ctx context.Context, name string, data map[string][]byte) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-vault"}},
		Type:       corev1.SecretTypeOpaque,
		Data:       data,
	}
	_, err := k.cs.CoreV1().Secrets(k.ns).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("secret %s/%s already exists: it is never overwritten, choose another --keys-secret", k.ns, name)
	}
	return err
}

func (k *kube) GetSecret(ctx context.Context, name string) (map[string][]byte, error) {
	s, err := k.cs.CoreV1().Secrets(k.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}

// CanCreateSecret checks with a server-side dry run that the Secret can be created.
func (k *kube) CanCreateSecret(ctx context.Context, name string) error {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.ns}}
	_, err := k.cs.CoreV1().Secrets(k.ns).Create(ctx, s, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("secret %s/%s already exists: it is never overwritten, choose another --keys-secret", k.ns, name)
	}
	return err
}

func (k *kube) DeletePod(ctx context.Context, pod string) error {
	return k.cs.CoreV1().Pods(k.ns).Delete(ctx, pod, metav1.DeleteOptions{})
}

// Forward port-forwards like kubectl: SPDY over websocket first, SPDY as fallback.
func (k *kube) Forward(ctx context.Context, pod string, localPort, remotePort int, ready func()) error {
	req := k.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(k.ns).Name(pod).SubResource("portforward")
	transport, upgrader, err := spdy.RoundTripperFor(k.cfg)
	if err != nil {
		return err
	}
	dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, "POST", req.URL())
	tunneling, err := portforward.NewSPDYOverWebsocketDialerForStreaming(req.URL(), k.cfg)
	if err != nil {
		return err
	}
	dialer = portforward.NewFallbackDialerForStreaming(tunneling, dialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	stop := make(chan struct{})
	readyCh := make(chan struct{})
	ports := []string{strconv.Itoa(localPort) + ":" + strconv.Itoa(remotePort)}
	fw, err := portforward.NewOnAddressesForStreaming(dialer, []string{"127.0.0.1"}, ports, stop, readyCh, io.Discard, io.Discard)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			close(stop)
		case <-done:
		}
	}()
	go func() {
		select {
		case <-readyCh:
			ready()
		case <-done:
		}
	}()
	return fw.ForwardPorts()
}

func (k *kube) StatefulSetReplicas(ctx context.Context, name string) (int32, error) {
	s, err := k.cs.AppsV1().StatefulSets(k.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	if s.Spec.Replicas == nil {
		return 1, nil
	}
	return *s.Spec.Replicas, nil
}

// ScaleStatefulSet sets spec.replicas with a merge patch (RBAC: statefulsets patch).
func (k *kube) ScaleStatefulSet(ctx context.Context, name string, replicas int32) error {
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas))
	_, err := k.cs.AppsV1().StatefulSets(k.ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// DeletePVC deletes a claim and waits until it is gone (its pvc-protection finalizer
// holds it while a pod uses it), so that a new pod gets a new claim and volume. A claim
// already gone is not an error (resume).
func (k *kube) DeletePVC(ctx context.Context, name string) error {
	err := k.cs.CoreV1().PersistentVolumeClaims(k.ns).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	werr := poll.Until(ctx, 2*time.Minute, time.Second, func() (bool, error) {
		_, err := k.cs.CoreV1().PersistentVolumeClaims(k.ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, nil
	})
	if werr != nil {
		return fmt.Errorf("PVC %s is still there 2m after its deletion (a pod still uses it?)", name)
	}
	return nil
}

func (k *kube) PVCExists(ctx context.Context, name string) (bool, error) {
	_, err := k.cs.CoreV1().PersistentVolumeClaims(k.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (k *kube) GetConfigMap(ctx context.Context, name string) (map[string]string, error) {
	cm, err := k.cs.CoreV1().ConfigMaps(k.ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("configmap %s/%s: %w", k.ns, name, fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	return cm.Data, nil
}

// PutConfigMap creates the ConfigMap or replaces its data.
func (k *kube) PutConfigMap(ctx context.Context, name string, data map[string]string) error {
	cms := k.cs.CoreV1().ConfigMaps(k.ns)
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: k.ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-vault"}},
			Data:       data,
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	cm.Data = data
	_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	return err
}

func (k *kube) DeleteConfigMap(ctx context.Context, name string) error {
	err := k.cs.CoreV1().ConfigMaps(k.ns).Delete(ctx, name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("configmap %s/%s: %w", k.ns, name, fs.ErrNotExist)
	}
	return err
}
