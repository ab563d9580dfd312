package injector

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vaultkube/vaultkube/injector/agent"
	"github.com/vaultkube/vaultkube/internal/agentconfig"
	corev1 "k8s.io/api/core/v1"
)

// moreValidValues are other spellings the annotation checks admit, which the injector must
// turn into what the agent reads (vault-k8s passes them to Vault, which takes them all).
var moreValidValues = map[string][]string{
	AnnStaticSecretRenderInterval: {"90", "0", " 5m ", "1h30m"},
	AnnClientTimeout:              {"30", "0", "2m"},
	AnnClientMaxRetries:           {"0", "7"},
	AnnPerms:                      {"400", "0644"},
}

// TestAgentAcceptsWhatTheInjectorAdmits: for every implemented annotation and each valid
// value of it, the agent configuration the injector writes into the pod passes the agent's
// own validation, so that no admitted pod has an agent that refuses to start.
func TestAgentAcceptsWhatTheInjectorAdmits(t *testing.T) {
	for _, row := range append(append([]Annotation{}, Annotations...), Extensions...) {
		if !row.Implemented {
			continue
		}
		values := moreValidValues[row.Key]
		if v, ok := validValues[row.Key]; ok {
			values = append(values, v)
		} else if row.Default != "" {
			values = append(values, row.Default)
		}
		for _, v := range values {
			t.Run(row.Key+"="+v, func(t *testing.T) {
				ann := basic(keyFor(row), v)
				if row.Key == AnnAuthPath || row.Key == AnnImage {
					ann[row.Key] = v
				}
				out, _, err := Mutate(loadPod(t, "web", ann), testConfig())
				require.NoError(t, err)
				configs := 0
				for _, c := range append(append([]corev1.Container{}, out.Spec.InitContainers...), out.Spec.Containers...) {
					for _, e := range c.Env {
						if e.Name != agentconfig.EnvVar {
							continue
						}
						configs++
						cfg, err := agentconfig.Parse([]byte(e.Value))
						require.NoError(t, err, "container %s", c.Name)
						require.NoError(t, (&agent.RunOptions{Config: cfg}).Validate(), "container %s: %s", c.Name, e.Value)
					}
				}
				if out != nil && out.Annotations[AnnStatus] == "injected" {
					require.NotZero(t, configs, "an injected pod has an agent configuration")
				}
			})
		}
	}
}
