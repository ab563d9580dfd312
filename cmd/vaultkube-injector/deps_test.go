package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanDependencies keeps the webhook binary lean: its memory follows its size (make
// bench). It decodes with k8s.io/api and validates with k8s.io/apimachinery; the API
// client, the Prometheus client, protobuf and the agent's libraries stay out.
func TestLeanDependencies(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("SKIPPED: no go command on PATH to list the binary's packages")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-tags", "nokube", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	banned := []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "k8s.io/component-base",
		"github.com/prometheus/", "google.golang.org/protobuf", "google.golang.org/grpc", "github.com/gogo/",
		"github.com/golang/protobuf", "github.com/Masterminds/", "github.com/hashicorp/"}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list printed too little to be the package list: %q", out)
	}
	for _, dep := range deps {
		for _, b := range banned {
			if strings.HasPrefix(dep, b) {
				t.Errorf("vaultkube-injector (-tags nokube) links %s", dep)
			}
		}
	}
}
