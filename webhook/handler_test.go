package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/vaultkube/vaultkube/injector"
	"github.com/vaultkube/vaultkube/internal/promexp"
)

func testInjectorConfig() injector.Config {
	c := injector.DefaultConfig()
	c.VaultAddress = "https://vault.vault.svc:8200"
	return c
}

// podJSON is the injector's realistic fixture pod with annotations, as JSON.
func podJSON(t testing.TB, ann map[string]string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../injector/testdata/pods/web.yaml")
	require.NoError(t, err)
	var pod corev1.Pod
	require.NoError(t, yaml.Unmarshal(raw, &pod))
	pod.Annotations = ann
	// as the API server sends it for a ReplicaSet's pod: no name, no namespace in the object
	pod.Namespace = ""
	out, err := json.Marshal(&pod)
	require.NoError(t, err)
	return out
}

// reviewBody is an AdmissionReview v1 as kube-apiserver sends it.
func reviewBody(t testing.TB, ns string, op admissionv1.Operation, object []byte) []byte {
	t.Helper()
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID("705ab4f5-6393-11e8-b7cc-42010a800002"),
			Kind:            metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:        metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			RequestKind:     &metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			RequestResource: &metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace:       ns,
			Operation:       op,
			UserInfo:        authUser(),
			Object:          runtime.RawExtension{Raw: object},
			DryRun:          new(bool),
			Options:         runtime.RawExtension{Raw: []byte(`{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}`)},
		},
	}
	raw, err := json.Marshal(&review)
	require.NoError(t, err)
	return raw
}

func authUser() authenticationv1.UserInfo {
	return authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller", UID: "b4f4c6d2", Groups: []string{"system:serviceaccounts", "system:authenticated"}}
}

func post(t testing.TB, h http.Handler, body []byte) (*httptest.ResponseRecorder, *admissionv1.AdmissionReview) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/mutate?timeout=10s", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec, nil
	}
	var out admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	require.NotNil(t, out.Response)
	assert.Equal(t, "admission.k8s.io/v1", out.APIVersion)
	assert.Equal(t, "AdmissionReview", out.Kind)
	var in admissionv1.AdmissionReview
	if json.Unmarshal(body, &in) == nil && in.Request != nil {
		assert.Equal(t, in.Request.UID, out.Response.UID, "the answer carries the request's UID")
	} else {
		assert.Equal(t, types.UID("705ab4f5-6393-11e8-b7cc-42010a800002"), out.Response.UID)
	}
	return rec, &out
}

var annotated = map[string]string{
	injector.AnnInject:         "true",
	injector.AnnRole:           "web",
	injector.AnnSecret + "-db": "secret/data/db",
}

func TestMutateAllowsUnchanged(t *testing.T) {
	h := NewHandler(testInjectorConfig(), nil, nil)
	for name, body := range map[string][]byte{
		"no annotations": reviewBody(t, "app", admissionv1.Create, podJSON(t, nil)),
		"kube-system":    reviewBody(t, "kube-system", admissionv1.Create, podJSON(t, annotated)),
		"update":         reviewBody(t, "app", admissionv1.Update, podJSON(t, annotated)),
	} {
		t.Run(name, func(t *testing.T) {
			_, review := post(t, h, body)
			require.NotNil(t, review)
			assert.True(t, review.Response.Allowed)
			assert.Nil(t, review.Response.Patch)
			assert.Nil(t, review.Response.PatchType)
		})
	}
	t.Run("not a pod", func(t *testing.T) {
		var review admissionv1.AdmissionReview
		require.NoError(t, json.Unmarshal(reviewBody(t, "app", admissionv1.Create, []byte(`{"kind":"ConfigMap","data":{"a":"b"},"spec":"not a pod spec"}`)), &review))
		review.Request.Kind = metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
		body, _ := json.Marshal(&review)
		_, out := post(t, h, body)
		require.NotNil(t, out)
		assert.True(t, out.Response.Allowed)
	})
}

func TestMutatePatches(t *testing.T) {
	h := NewHandler(testInjectorConfig(), nil, nil)
	object := podJSON(t, annotated)
	_, review := post(t, h, reviewBody(t, "app", admissionv1.Create, object))
	require.NotNil(t, review)
	resp := review.Response
	require.True(t, resp.Allowed)
	require.NotNil(t, resp.PatchType)
	assert.Equal(t, admissionv1.PatchTypeJSONPatch, *resp.PatchType)
	assert.Empty(t, resp.Warnings)

	// Apply the patch the way the API server does, to the object it sent.
	patch, err := jsonpatch5.DecodePatch(resp.Patch)
	require.NoError(t, err)
	patched, err := patch.Apply(object)
	require.NoError(t, err)
	var pod corev1.Pod
	require.NoError(t, json.Unmarshal(patched, &pod))
	assert.Equal(t, "injected", pod.Annotations[injector.AnnStatus])
	for k, v := range annotated {
		assert.Equal(t, v, pod.Annotations[k], "the user's annotations stay")
	}
	assert.Empty(t, pod.Namespace, "the patch does not add the namespace")
	names := []string{}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		names = append(names, c.Name)
	}
	// version unknown: a native sidecar, as every supported Kubernetes release has them (issue 18)
	assert.Equal(t, []string{"vault-agent", "web"}, names)
	assert.Equal(t, "kube-api-access-x7k2p", pod.Spec.Volumes[0].Name, "existing volumes stay")
}

func TestMutateAnswersV1beta1InKind(t *testing.T) {
	h := NewHandler(testInjectorConfig(), nil, nil)
	body := bytes.Replace(reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated)), []byte(`"admission.k8s.io/v1"`), []byte(`"admission.k8s.io/v1beta1"`), 1)
	req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `"apiVersion":"admission.k8s.io/v1beta1"`)
	assert.Contains(t, rec.Body.String(), `"patchType":"JSONPatch"`)
}

func TestMutateNativeSidecarFromConfig(t *testing.T) {
	cfg := testInjectorConfig()
	cfg.ServerVersion = "v1.37.2"
	h := NewHandler(cfg, nil, nil)
	object := podJSON(t, annotated)
	_, review := post(t, h, reviewBody(t, "app", admissionv1.Create, object))
	require.NotNil(t, review)
	assert.Contains(t, string(review.Response.Patch), `"restartPolicy":"Always"`)
}

func TestMutateDenies(t *testing.T) {
	h := NewHandler(testInjectorConfig(), nil, nil)
	ann := map[string]string{}
	for k, v := range annotated {
		ann[k] = v
	}
	ann[injector.AnnTemplate+"-db"] = `{{ with secret "secret/data/db" }}{{ .Data.data.password }`
	ann[injector.AnnCacheEnable] = "true"
	_, review := post(t, h, reviewBody(t, "app", admissionv1.Create, podJSON(t, ann)))
	require.NotNil(t, review)
	resp := review.Response
	assert.False(t, resp.Allowed)
	require.NotNil(t, resp.Result)
	assert.Equal(t, int32(http.StatusForbidden), resp.Result.Code)
	assert.Contains(t, resp.Result.Message, "annotation vault.hashicorp.com/agent-inject-template-db: template does not parse")
	assert.Nil(t, resp.Patch)
	require.Len(t, resp.Warnings, 1, "warnings travel with denials too")
	assert.Contains(t, resp.Warnings[0], injector.AnnCacheEnable)
}

func TestMutateWarns(t *testing.T) {
	h := NewHandler(testInjectorConfig(), nil, nil)
	ann := map[string]string{injector.AnnCacheEnable: "true", injector.Prefix + "agent-inject-secrets-db": "typo"}
	for k, v := range annotated {
		ann[k] = v
	}
	_, review := post(t, h, reviewBody(t, "app", admissionv1.Create, podJSON(t, ann)))
	require.NotNil(t, review)
	assert.True(t, review.Response.Allowed)
	assert.NotEmpty(t, review.Response.Patch)
	require.Len(t, review.Response.Warnings, 2)
	assert.Contains(t, review.Response.Warnings[0], injector.AnnCacheEnable)
	assert.Contains(t, review.Response.Warnings[1], "agent-inject-secrets-db")
}

func TestMutateRecoversFromPanic(t *testing.T) {
	h := NewHandler(testInjectorConfig(), nil, nil)
	h.mutate = func(*corev1.Pod, injector.Config) (*corev1.Pod, []string, error) { panic("boom") }
	_, review := post(t, h, reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated)))
	require.NotNil(t, review)
	assert.False(t, review.Response.Allowed)
	assert.Contains(t, review.Response.Result.Message, "internal error: boom")
}

func TestMutateBadRequests(t *testing.T) {
	h := NewHandler(testInjectorConfig(), nil, nil)
	cases := []struct {
		name, method, ctype, body string
		code                      int
	}{
		{"get", http.MethodGet, "", "", http.StatusMethodNotAllowed},
		{"not json", http.MethodPost, "application/json", "{", http.StatusBadRequest},
		{"no request", http.MethodPost, "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"wrong content type", http.MethodPost, "text/plain", "{}", http.StatusUnsupportedMediaType},
		{"too big", http.MethodPost, "application/json", `{"x":"` + strings.Repeat("a", MaxBody) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/mutate", strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tc.code, rec.Code)
		})
	}
	t.Run("undecodable pod is denied", func(t *testing.T) {
		_, review := post(t, h, reviewBody(t, "app", admissionv1.Create, []byte(`{"spec":{"containers":"nope"}}`)))
		require.NotNil(t, review)
		assert.False(t, review.Response.Allowed)
		assert.Contains(t, review.Response.Result.Message, "decode pod")
	})
}

func TestHealthAndMetrics(t *testing.T) {
	reg := promexp.NewRegistry()
	h := NewHandler(testInjectorConfig(), nil, reg)
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	assert.Equal(t, http.StatusOK, get("/healthz").Code)
	assert.Equal(t, http.StatusOK, get("/readyz").Code)
	h.SetReady(false)
	assert.Equal(t, http.StatusServiceUnavailable, get("/readyz").Code)
	h.SetReady(true)

	post(t, h, reviewBody(t, "app", admissionv1.Create, podJSON(t, annotated)))
	post(t, h, reviewBody(t, "app", admissionv1.Create, podJSON(t, nil)))
	bad := map[string]string{injector.AnnInject: "true"}
	post(t, h, reviewBody(t, "team-b", admissionv1.Create, podJSON(t, bad)))

	plain := httptest.NewRecorder()
	h.PlainHandler().ServeHTTP(plain, httptest.NewRequest(http.MethodPost, "/mutate", nil))
	assert.Equal(t, http.StatusNotFound, plain.Code, "no admission on the plain port")
	plain = httptest.NewRecorder()
	h.PlainHandler().ServeHTTP(plain, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusOK, plain.Code)

	rec := get("/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	body := rec.Body.String()
	for _, want := range []string{
		`vaultkube_injector_requests_total{result="patched"} 1`,
		`vaultkube_injector_requests_total{result="allowed"} 1`,
		`vaultkube_injector_requests_total{result="denied"} 1`,
		`vaultkube_injector_request_duration_seconds_count 3`,
		`vaultkube_injector_injections_total{namespace="app"} 1`,
		`vaultkube_injector_failures_total{namespace="team-b"} 1`,
		`go_goroutines`,
	} {
		assert.Contains(t, body, want)
	}
}

// TestConcurrentRequestsKeepTheirAnswers: goroutines send different pods at once, and
// every answer is byte for byte what the pod gets alone. Run with -race, it also checks
// the handler's shared state.
func TestConcurrentRequestsKeepTheirAnswers(t *testing.T) {
	var bodies [][]byte
	for i := range 6 {
		ann := map[string]string{injector.AnnInject: "true", injector.AnnRole: fmt.Sprintf("role-%d", i),
			injector.AnnSecret + "-db": "secret/data/" + strings.Repeat("x", i*40)}
		if i%3 == 2 {
			ann[injector.AnnTemplate+"-db"] = "{{ .Broken" // denied
		}
		bodies = append(bodies, reviewBody(t, fmt.Sprintf("ns-%d", i), admissionv1.Create, podJSON(t, ann)))
	}
	send := func(h http.Handler, body []byte) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	{
		h := NewHandler(testInjectorConfig(), nil, nil)
		want := make([]string, len(bodies))
		for i, b := range bodies {
			code, body := send(h, b)
			require.Equal(t, http.StatusOK, code)
			want[i] = body
		}
		errs := make(chan error, 8)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for n := range 40 {
					i := (g + n) % len(bodies)
					if code, body := send(h, bodies[i]); code != http.StatusOK || body != want[i] {
						errs <- fmt.Errorf("pod %d: HTTP %d, answer differs", i, code)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}
}
