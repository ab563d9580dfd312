package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
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

// FuzzDecodeReview: decodeReview gives what json.Unmarshal of the whole body gives, and
// fails where it fails; a body that is not JSON is refused.
func FuzzDecodeReview(f *testing.F) {
	f.Add(reviewBody(f, "app", admissionv1.Create, podJSON(f, annotated)))
	for _, s := range []string{
		`{"request":{"uid":"1","object":{"a":1},"Object":null}}`,
		`{"request":{"uid":"1","object":{"a":1}},"REQUEST":{"uid":"2"}}`,
		`{"request":{"object":{"a":1}},"request":null,"request":{"uid":"3"}}`,
		`{"request":{"obj\u0065ct":[1, 2] , "kind":{"kind":"Pod"}},"apiVersion":"v1"}`,
		`{"request":{"object":{"a":}},"x":1}`, `{"request":{"object":{"a":1},"object":{"b"}}}`,
		`{"request":{"object":{"a":1}}} x`, `{"request":{"uid":5,"object":{}}}`, `{"request":{"object": null }}`,
		`{"request":{"object":{"a":"}"}}}`, `{"request":[]}`, `{"response":{"allowed":"x"},"request":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, apiVersion, err := decodeReview(body)
		var want admissionReview
		wantErr := json.Unmarshal(body, &want)
		if wantErr == nil && want.Request == nil {
			wantErr = errors.New("no request")
		}
		require.Equal(t, wantErr == nil, err == nil, "errors %v and %v for %q", wantErr, err, body)
		if err == nil {
			require.Equal(t, want.APIVersion, apiVersion)
			require.Equal(t, *want.Request, *req, "%q", body)
		}
	})
}
