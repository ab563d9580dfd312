package injector

import (
	"encoding/json"
	"flag"
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

// testConfig is DefaultConfig with a Vault address, as the webhook would pass it.
func testConfig() Config {
	c := DefaultConfig()
	c.VaultAddress = "https://vault.vault.svc:8200"
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
