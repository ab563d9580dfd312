package webhook

import (
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/vaultkube/vaultkube/injector"
	"github.com/vaultkube/vaultkube/internal/podspec"
)

func BenchmarkStages(b *testing.B) {
	ann := map[string]string{
		injector.AnnTemplate + "-db": `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`,
		injector.AnnTLSSecret:        "vault-tls",
		injector.AnnCACert:           "/vault/tls/ca.crt",
	}
	for k, v := range annotated {
		ann[k] = v
	}
	body := reviewBody(b, "app", admissionv1.Create, podJSON(b, ann))
	cfg := testInjectorConfig()
	cfg.ServerVersion = "v1.37.2"
	// each stage's input is made here, so that any one of them can run alone (-bench)
	req, _, err := decodeReview(body)
	if err != nil {
		b.Fatal(err)
	}
	pod, err := podspec.DecodePod(req.Object)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			req, _, err := decodeReview(body)
			if err != nil {
				b.Fatal(err)
			}
			if _, err = podspec.DecodePod(req.Object); err != nil {
				b.Fatal(err)
			}
		}
	})
	pod.Namespace = "app"
	out, _, err := injector.Mutate(&pod, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("mutate", func(b *testing.B) {
		for b.Loop() {
			_, _, _ = injector.Mutate(&pod, cfg)
		}
	})
	b.Run("patch", func(b *testing.B) {
		for b.Loop() {
			_, _ = injector.Patch(&pod, out)
		}
	})
	ops, _ := injector.Patch(&pod, out)
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			p, _ := injector.EncodePatch(ops)
			_, _ = json.Marshal(&admissionReview{Response: &admissionResponse{Patch: p}})
		}
	})
}
