package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/vaultkube/vaultkube/injector"
)

// BenchmarkHandler sends a full AdmissionReview through the HTTP handler: decode,
// mutate, patch, encode; native injects one agent container (API server >= 1.29), classic
// an init container and a sidecar, as vault-k8s does.
func BenchmarkHandler(b *testing.B) {
	ann := map[string]string{
		injector.AnnTemplate + "-db": `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`,
		injector.AnnTLSSecret:        "vault-tls",
		injector.AnnCACert:           "/vault/tls/ca.crt",
	}
	for k, v := range annotated {
		ann[k] = v
	}
	body := reviewBody(b, "app", admissionv1.Create, podJSON(b, ann))
	for _, mode := range []struct{ name, version string }{{"native", "v1.37.2"}, {"classic", "v1.28.0"}} {
		b.Run(mode.name, func(b *testing.B) {
			cfg := testInjectorConfig()
			cfg.ServerVersion = mode.version
			h := NewHandler(cfg, nil, nil)
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
					b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}
