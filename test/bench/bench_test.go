package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vaultkube/vaultkube/injector"
	"github.com/vaultkube/vaultkube/webhook"
)

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 0, 200)
	for i := 200; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{
		{50, 100 * time.Millisecond},
		{99, 198 * time.Millisecond},
		{100, 200 * time.Millisecond},
		{0, 1 * time.Millisecond},
	} {
		assert.Equal(t, tc.want, percentile(ds, tc.p), "p%v", tc.p)
	}
	assert.Equal(t, 200*time.Millisecond, ds[0], "percentile must not sort its input in place")
	assert.Zero(t, percentile(nil, 50))
	assert.Equal(t, 3*time.Millisecond, median([]time.Duration{5 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond}))
}

// The AdmissionReview is what kube-apiserver sends after the ServiceAccount plugin: the pod
// carries the kube-api-access projected volume and its mount.
func TestReviewBodyIsARealisticRequest(t *testing.T) {
	body, err := reviewBody()
	require.NoError(t, err)
	var review admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(body, &review))
	require.NotNil(t, review.Request)
	assert.Equal(t, "admission.k8s.io/v1", review.APIVersion)
	assert.Equal(t, admissionv1.Create, review.Request.Operation)
	assert.Equal(t, "app", review.Request.Namespace)
	pod := benchPod()
	require.Len(t, pod.Spec.Volumes, 1)
	assert.True(t, strings.HasPrefix(pod.Spec.Volumes[0].Name, "kube-api-access-"))
	assert.NotNil(t, pod.Spec.Volumes[0].Projected)
	assert.Equal(t, "/var/run/secrets/kubernetes.io/serviceaccount", pod.Spec.Containers[0].VolumeMounts[0].MountPath)
	assert.Equal(t, "true", pod.Annotations["vault.hashicorp.com/agent-inject"])
	assert.Contains(t, pod.Annotations, "vault.hashicorp.com/agent-inject-template-db")
}

// Our handler, in process, accepts the benchmark's review and checkReview reads its answer.
func TestCheckReviewWithOurHandler(t *testing.T) {
	body, err := reviewBody()
	require.NoError(t, err)
	cfg := injector.DefaultConfig()
	cfg.VaultAddress = "http://127.0.0.1:8200"
	cfg.ServerVersion = "v1.37.2"
	h := webhook.NewHandler(cfg, nil, nil)
	req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	desc, err := checkReview(rec.Body.Bytes())
	require.NoError(t, err)
	assert.Contains(t, desc, "allowed: true")
}

func TestCheckReviewRefusals(t *testing.T) {
	encode := func(r *admissionv1.AdmissionResponse) []byte {
		raw, err := json.Marshal(admissionv1.AdmissionReview{Response: r})
		require.NoError(t, err)
		return raw
	}
	jsonPatch := admissionv1.PatchTypeJSONPatch
	for _, tc := range []struct {
		name string
		body []byte
		want string
	}{
		{"not json", []byte("<html>"), "decode AdmissionReview"},
		{"no response", encode(nil), "no response"},
		{"wrong uid", encode(&admissionv1.AdmissionResponse{UID: "x", Allowed: true}), "response UID"},
		{"denied", encode(&admissionv1.AdmissionResponse{UID: reviewUID, Result: &metav1.Status{Message: "bad template"}}), "bad template"},
		{"no patch", encode(&admissionv1.AdmissionResponse{UID: reviewUID, Allowed: true}), "without a patch"},
		{"patch without effect", encode(&admissionv1.AdmissionResponse{UID: reviewUID, Allowed: true, PatchType: &jsonPatch,
			Patch: []byte(`[{"op":"add","path":"/metadata/labels/x","value":"y"}]`)}), "adds 0 containers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkReview(tc.body)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestParseAgentBench(t *testing.T) {
	report := `metric (median of 5 runs; memory: max)  vault agent  vaultkube agent  ratio  goal
init: exec to exit, file rendered       73.9 ms      9.5 ms           0.13   ≤ 0.50
init: max RSS                           202.2 MB     14.9 MB          0.07   ≤ 0.25
binary size                             344.7 MB     14.5 MB          0.04   ≤ 0.125
rendered files: identical (170 bytes)
`
	rows, err := parseAgentBench(report)
	require.NoError(t, err)
	require.Len(t, rows, 3)
	assert.Equal(t, row{metric: "init: exec to exit, file rendered", ours: 9.5, peer: 73.9, unit: "ms", goal: 0.5}, rows[0])
	assert.Equal(t, "MB", rows[1].unit)
	assert.Equal(t, 0.125, rows[2].goal)
	assert.Equal(t, "met", rows[2].verdict())

	_, err = parseAgentBench("error: vault dev server not healthy\n")
	assert.Error(t, err)
}

func TestSummaryTable(t *testing.T) {
	s := &section{name: "injector"}
	s.add(row{metric: "p99", ours: 2, peer: 1, unit: "ms", goal: 0.5})
	s.skipped("RSS", "vault-k8s build failed")
	var buf bytes.Buffer
	require.NoError(t, printRows(&buf, []*section{s, {name: "agent", err: assert.AnError}}))
	out := buf.String()
	assert.Contains(t, out, "2.00 ms")
	assert.Contains(t, out, "MISSED")
	assert.Contains(t, out, "SKIPPED: vault-k8s build failed")
	assert.Contains(t, out, "FAILED: "+assert.AnError.Error())
}

// Several runs of a section sum up as the median of each figure, except memory (worst: the
// largest); the per-run ratios of the goal rows are printed beside the summed-up ratio.
func TestCombineRuns(t *testing.T) {
	run := func(p99, peerP99, rss float64) *section {
		s := &section{name: "injector"}
		s.add(row{metric: "p99", ours: p99, peer: peerP99, unit: "ms", goal: 0.5})
		s.add(row{metric: "p50", ours: p99 / 4, peer: peerP99 / 4, unit: "ms"})
		s.add(row{metric: "RSS", ours: rss, peer: 30, unit: "MB", goal: 0.5, worst: true})
		return s
	}
	runs := []*section{run(3, 6, 14), run(5, 8, 15.5), run(2, 7, 14.2), run(4, 6.5, 14.1), run(2.5, 9, 14.3)}
	sum := combineRuns(runs)
	require.Len(t, sum.rows, 3)
	assert.Equal(t, "injector", sum.name)
	assert.Equal(t, row{metric: "p99", ours: 3, peer: 7, unit: "ms", goal: 0.5}, sum.rows[0])
	assert.Equal(t, 0.75, sum.rows[1].ours)
	assert.Equal(t, 1.75, sum.rows[1].peer)
	assert.Equal(t, 15.5, sum.rows[2].ours, "memory: the largest run counts")
	assert.Equal(t, 30.0, sum.rows[2].peer)
	assert.Equal(t, 2.5, runs[4].rows[0].ours, "the runs are left as they were")

	var out bytes.Buffer
	printRunRatios(&out, runs, sum)
	assert.Contains(t, out.String(), "p99")
	assert.Contains(t, out.String(), "0.50 0.62 0.29 0.62 0.28")
	assert.Contains(t, out.String(), "0.429")
	assert.Contains(t, out.String(), "0.47 0.52 0.47 0.47 0.48")
	assert.NotContains(t, out.String(), "p50", "rows without a goal are not listed")

	assert.Equal(t, 2.0, medianOf([]float64{3, 1, 2, 4}), "the lower middle of an even count")
	assert.Zero(t, medianOf(nil))
}
