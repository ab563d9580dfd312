package injector

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// loadPod reads testdata/pods/<name>.yaml and sets the annotations.
func loadPod(t testing.TB, name string, ann map[string]string) *corev1.Pod {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "pods", name+".yaml"))
	require.NoError(t, err)
	// strictly: a typo in a test pod must not pass unnoticed
	var pod corev1.Pod
	require.NoError(t, yaml.UnmarshalStrict(raw, &pod))
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	for k, v := range ann {
		pod.Annotations[k] = v
	}
	return &pod
}

// testConfig is DefaultConfig with a Vault address, as the webhook would pass it, and
// classic sidecars (--native-sidecar=false), whose agent most tests look for in
// Spec.Containers. Tests of native sidecars and of auto set NativeSidecar themselves.
func testConfig() Config {
	c := DefaultConfig()
	c.VaultAddress = "https://vault.vault.svc:8200"
	c.NativeSidecar = NativeFalse
	return c
}

// basic are the annotations of the simplest injected pod.
func basic(extra ...string) map[string]string {
	ann := map[string]string{
		AnnInject:          "true",
		AnnRole:            "web",
		AnnSecret + "-db":  "secret/data/db",
		AnnSecret + "-api": "secret/data/api",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		ann[extra[i]] = extra[i+1]
	}
	return ann
}

func mustMutate(t testing.TB, pod *corev1.Pod, cfg Config) (*corev1.Pod, []string) {
	t.Helper()
	out, warnings, err := Mutate(pod, cfg)
	require.NoError(t, err)
	require.NotNil(t, out)
	return out, warnings
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func findVolume(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// agentConfigOf decodes (strictly) the agent configuration of a container.
func agentConfigOf(t testing.TB, c *corev1.Container) agentconfig.Config {
	t.Helper()
	require.NotNil(t, c)
	for _, e := range c.Env {
		if e.Name == agentconfig.EnvVar {
			dec := json.NewDecoder(strings.NewReader(e.Value))
			dec.DisallowUnknownFields()
			var cfg agentconfig.Config
			require.NoError(t, dec.Decode(&cfg))
			require.NoError(t, cfg.Validate())
			return cfg
		}
	}
	t.Fatalf("container %s has no %s", c.Name, agentconfig.EnvVar)
	return agentconfig.Config{}
}

// podProblems checks the structural rules the API server's validation enforces on what
// the injector changes: unique names, mounts of existing volumes at distinct paths, probes
// and restart policies only where Kubernetes allows them.
func podProblems(pod *corev1.Pod) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	volumes := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if volumes[v.Name] {
			add("duplicate volume %s", v.Name)
		}
		volumes[v.Name] = true
	}
	names := map[string]bool{}
	check := func(c corev1.Container, init bool) {
		if c.Name == "" || names[c.Name] {
			add("empty or duplicate container name %q", c.Name)
		}
		names[c.Name] = true
		if c.Image == "" {
			add("container %s has no image", c.Name)
		}
		paths := map[string]bool{}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				add("container %s mounts missing volume %s", c.Name, m.Name)
			}
			if paths[m.MountPath] {
				add("container %s mounts twice at %s", c.Name, m.MountPath)
			}
			paths[m.MountPath] = true
			if !strings.HasPrefix(m.MountPath, "/") || strings.Contains("/"+m.MountPath+"/", "/../") {
				add("container %s mount path %q", c.Name, m.MountPath)
			}
		}
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if sidecar && !init {
			add("restartPolicy on regular container %s", c.Name)
		}
		if init && !sidecar && (c.StartupProbe != nil || c.ReadinessProbe != nil || c.LivenessProbe != nil) {
			add("probe on init container %s", c.Name)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		check(c, true)
	}
	for _, c := range pod.Spec.Containers {
		check(c, false)
	}
	return problems
}

// deepCopyPod copies a pod.
func deepCopyPod(p *corev1.Pod) *corev1.Pod { return p.DeepCopy() }

// podText is the pod's JSON: what Mutate must leave alone is compared this way.
func podText(p *corev1.Pod) string {
	raw, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	return string(raw)
}
