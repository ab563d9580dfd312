package webhook

import (
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/injector"
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
	var pod corev1.Pod
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			_, p, _, err := decodeReview(body)
			if err != nil || p == nil {
				b.Fatal(err)
			}
			pod = *p
		}
	})
	pod.Namespace = "app"
	var out *corev1.Pod
	b.Run("mutate", func(b *testing.B) {
		for b.Loop() {
			out, _, _ = injector.Mutate(&pod, cfg)
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
			_, _ = json.Marshal(&admissionv1.AdmissionReview{Response: &admissionv1.AdmissionResponse{Patch: p}})
		}
	})
}
