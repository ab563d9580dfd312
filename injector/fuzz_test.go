package injector

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseAnnotations feeds arbitrary keys and values (as "k=v" lines) through parsing
// and Mutate: nothing panics, and an accepted pod yields a patch.
func FuzzParseAnnotations(f *testing.F) {
	f.Add("vault.hashicorp.com/agent-inject-secret-db=secret/data/db\nvault.hashicorp.com/agent-inject-file-db=../x")
	f.Add("vault.hashicorp.com/agent-inject-template-db={{ with secret \"x\" }}{{ end }}")
	f.Add("vault.hashicorp.com/agent-template-left-delim-db=\nvault.hashicorp.com/agent-inject-template-db=[[ .x ]]")
	f.Add("vault.hashicorp.com/secret-volume-path=/a/b\nvault.hashicorp.com/preserve-secret-case=true\nvault.hashicorp.com/agent-inject-secret-ABC=x")
	f.Add("vaultkube.io/agent-inject-env=true\nvaultkube.io/env-prefix-db=X_")
	f.Add("vault.hashicorp.com/agent-json-patch=[{\"op\":\"remove\",\"path\":\"/image\"}]")
	f.Add("vault.hashicorp.com/agent-inject-command-db=a 'b c' \"d\\\"e\"")
	f.Add("vault.hashicorp.com/agent-run-as-same-user=true\nvault.hashicorp.com/agent-requests-mem=1Ti")
	f.Add("vault.hashicorp.com/agent-inject-secret-..=x\nvault.hashicorp.com/agent-inject-secret-.=y")
	pod := loadPod(f, "web", nil)
	cfg := testConfig()
	cfg.ServerVersion = "v1.30.0"
	f.Fuzz(func(t *testing.T, input string) {
		ann := map[string]string{AnnInject: "true", AnnRole: "r"}
		for _, line := range strings.Split(input, "\n") {
			k, v, _ := strings.Cut(line, "=")
			ann[k] = v
		}
		spec, _, err := ParseAnnotations(ann, cfg)
		if err == nil {
			for _, s := range spec.Secrets {
				if strings.Contains("/"+s.File+"/", "/../") {
					t.Fatalf("file %q escapes the volume", s.File)
				}
			}
		}
		p := deepCopyPod(pod)
		p.Annotations = ann
		before := podText(p)
		out, _, err := Mutate(p, cfg)
		if before != podText(p) {
			t.Fatalf("Mutate modified its input")
		}
		if err != nil {
			return
		}
		if problems := podProblems(out); len(problems) > 0 {
			t.Fatalf("invalid pod: %v", problems)
		}
		ops, err := Patch(p, out)
		if err != nil {
			t.Fatal(err)
		}
		patch, err := json.Marshal(ops)
		if err != nil {
			t.Fatal(err)
		}
		assertPatchApplies(t, p, out, patch)
		assertOnlyNewValues(t, p, ops)
	})
}
