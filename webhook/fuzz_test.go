package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
)

// FuzzHandler posts arbitrary bodies to /mutate: the handler never panics (not even in a
// way that review turns into a denial) and always answers 200 with an AdmissionReview or
// a 4xx.
func FuzzHandler(f *testing.F) {
	f.Add(reviewBody(f, "app", admissionv1.Create, podJSON(f, annotated)))
	f.Add(reviewBody(f, "app", admissionv1.Create, podJSON(f, map[string]string{"vault.hashicorp.com/agent-inject": "true"})))
	f.Add(reviewBody(f, "kube-system", admissionv1.Create, podJSON(f, annotated)))
	f.Add(reviewBody(f, "app", admissionv1.Create, []byte(`{"metadata":{"annotations":{"vault.hashicorp.com/agent-inject":"true","vault.hashicorp.com/role":"r","vault.hashicorp.com/agent-inject-template-x":"{{"}}}`)))
	f.Add(reviewBody(f, "app", admissionv1.Create, []byte(`null`)))
	f.Add([]byte(`{"request":{"uid":"1","kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":[{}]},"metadata":{"annotations":{"vault.hashicorp.com/agent-inject":"1","vaultkube.io/agent-inject-env":"true","vault.hashicorp.com/role":"x"}}}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	h := NewHandler(testInjectorConfig(), nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code >= 500) {
			t.Fatalf("status %d", rec.Code)
		}
		// review turns a panic into a denial: the fuzz must still see it
		if bytes.Contains(rec.Body.Bytes(), []byte("internal error")) {
			t.Fatalf("internal error for %q: %s", body, rec.Body.String())
		}
	})
}
