package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/plugin/pivot"
)

// Executor runs a command in the Vault container of a pod. Stdin, stdout and stderr are
// streamed, so a snapshot never sits whole in memory. A command that ran and exited
// non-zero returns an error with an ExitStatus() int method (see exitStatus).
type Executor interface {
	Exec(ctx context.Context, pod string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// PodLister lists the Vault server pods (the label selector and namespace are bound in).
type PodLister interface {
	ListPods(ctx context.Context) ([]corev1.Pod, error)
}

// SecretStore reads and creates the opt-in Kubernetes Secret that holds init keys.
type SecretStore interface {
	// CreateSecret creates the Secret and fails if it exists; it never overwrites.
	CreateSecret(ctx context.Context, name string, data map[string][]byte) error
	GetSecret(ctx context.Context, name string) (map[string][]byte, error)
}

// PortForwarder forwards localPort on 127.0.0.1 to remotePort of pod until ctx is done or
// the connection to the pod is lost. ready is called once the local port listens.
type PortForwarder interface {
	Forward(ctx context.Context, pod string, localPort, remotePort int, ready func()) error
}

// PodDeleter deletes a pod (its StatefulSet recreates it).
type PodDeleter interface {
	DeletePod(ctx context.Context, pod string) error
}

// Cluster is everything a subcommand needs from Kubernetes. Tests fill it with fakes.
type Cluster struct {
	Namespace  string
	Exec       Executor
	Pods       PodLister
	Secrets    SecretStore
	Forwarder  PortForwarder
	Deleter    PodDeleter
	Workload   pivot.Workload       // only pivot changes the StatefulSet and PVCs
	ConfigMaps pivot.ConfigMapStore // the pivot journal (--journal configmap:NAME)
}

// ErrPodNotFound is returned when a pod argument names no Vault server pod.
var ErrPodNotFound = errors.New("pod not found")

// exitStatus returns the exit status of a command that ran and failed. It understands
// client-go's exec.CodeExitError (ExitStatus) and os/exec's ExitError (ExitCode).
func exitStatus(err error) (int, bool) {
	var es interface{ ExitStatus() int }
	if errors.As(err, &es) {
		return es.ExitStatus(), true
	}
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode(), true
	}
	return 0, false
}

// podOrdinal returns the StatefulSet ordinal of a pod name ("vault-2" → 2), or -1.
func podOrdinal(name string) int {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// sortPods orders pods by StatefulSet ordinal, then by name.
func sortPods(pods []corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		oi, oj := podOrdinal(pods[i].Name), podOrdinal(pods[j].Name)
		if oi != oj {
			return oi < oj
		}
		return pods[i].Name < pods[j].Name
	})
}

// resolvePod finds the pod that arg names: a full name ("vault-1") or an ordinal ("1"),
// which is joined to the StatefulSet name detected from the pods' ownerReferences.
func resolvePod(pods []corev1.Pod, arg string) (*corev1.Pod, error) {
	for i := range pods {
		if pods[i].Name == arg {
			return &pods[i], nil
		}
	}
	if n, err := strconv.Atoi(arg); err == nil && n >= 0 {
		if sts := pivot.StatefulSetName(pods); sts != "" {
			want := fmt.Sprintf("%s-%d", sts, n)
			for i := range pods {
				if pods[i].Name == want {
					return &pods[i], nil
				}
			}
		}
		for i := range pods { // no owner found: match by ordinal suffix
			if podOrdinal(pods[i].Name) == n {
				return &pods[i], nil
			}
		}
	}
	names := podNames(pods)
	if len(names) == 0 {
		return nil, fmt.Errorf("pod %q: %w (no Vault server pods match the selector)", arg, ErrPodNotFound)
	}
	return nil, fmt.Errorf("pod %q: %w; Vault server pods are %s", arg, ErrPodNotFound, strings.Join(names, ", "))
}

func podNames(pods []corev1.Pod) []string {
	names := make([]string, 0, len(pods))
	for _, p := range pods {
		names = append(names, p.Name)
	}
	return names
}

// podReady reports the pod's Ready condition.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerEnv returns the value of a literal env var of the named container, or "".
func containerEnv(p *corev1.Pod, container, name string) string {
	for _, c := range p.Spec.Containers {
		if c.Name != container {
			continue
		}
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

// hasContainer reports whether the pod has a container with that name.
func hasContainer(p *corev1.Pod, container string) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == container {
			return true
		}
	}
	return false
}
