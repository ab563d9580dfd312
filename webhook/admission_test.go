package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestAdmissionTypesMatchK8s: what the webhook writes decodes strictly into k8s.io/api's
// AdmissionReview with the same values, and what the API server sends decodes into ours.
func TestAdmissionTypesMatchK8s(t *testing.T) {
	pt := "JSONPatch"
	ours := admissionReview{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: &admissionResponse{
		UID: "u-1", Allowed: true, Patch: []byte(`[{"op":"add","path":"/a","value":1}]`), PatchType: &pt, Warnings: []string{"w"},
	}}
	raw, err := json.Marshal(&ours)
	require.NoError(t, err)
	var theirs admissionv1.AdmissionReview
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&theirs))
	jp := admissionv1.PatchTypeJSONPatch
	require.Equal(t, admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: &admissionv1.AdmissionResponse{UID: "u-1", Allowed: true, Patch: ours.Response.Patch, PatchType: &jp, Warnings: []string{"w"}},
	}, theirs)

	denied := deny(&admissionRequest{UID: "u-2"}, " no \n")
	raw, err = json.Marshal(&admissionReview{Response: denied})
	require.NoError(t, err)
	theirs = admissionv1.AdmissionReview{}
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&theirs))
	require.Equal(t, &admissionv1.AdmissionResponse{UID: "u-2", Result: &metav1.Status{
		Status: metav1.StatusFailure, Message: "no", Reason: metav1.StatusReasonForbidden, Code: http.StatusForbidden,
	}}, theirs.Response)

	in := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{UID: types.UID("u-3"), Kind: metav1.GroupVersionKind{Group: "g", Version: "v1", Kind: "Pod"},
			SubResource: "status", Namespace: "ns", Operation: admissionv1.Update},
	}
	raw, err = json.Marshal(&in)
	require.NoError(t, err)
	var got admissionReview
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Equal(t, &admissionRequest{UID: "u-3", Kind: groupVersionKind{Group: "g", Version: "v1", Kind: "Pod"},
		SubResource: "status", Namespace: "ns", Operation: "UPDATE", Object: json.RawMessage("null")}, got.Request)
}

// TestAdmissionMembers: decodeReview's member lists are the JSON names of the admission
// types' fields, in order, so that a field added to a type is decoded too.
func TestAdmissionMembers(t *testing.T) {
	for typ, names := range map[reflect.Type][]string{
		reflect.TypeFor[admissionReview]():   reviewMembers,
		reflect.TypeFor[groupVersionKind]():  gvkMembers,
		reflect.TypeFor[admissionRequest]():  requestMembers,
		reflect.TypeFor[admissionResponse](): responseMembers,
		reflect.TypeFor[status]():            statusMembers,
	} {
		var want []string
		for f := range typ.Fields() {
			if !f.IsExported() {
				continue // not JSON
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			want = append(want, name)
		}
		require.Equal(t, want, names, "%s", typ)
	}
}

// TestAppendReviewMatchesEncoder: the answer is written byte for byte as encoding/json
// writes the AdmissionReview.
func TestAppendReviewMatchesEncoder(t *testing.T) {
	jp, empty := "JSONPatch", ""
	tricky := "a\"b\\<x>&\u2028\x01\xff é"
	for _, resp := range []*admissionResponse{
		{UID: "u"},
		{UID: "u", Allowed: true},
		{UID: tricky, Allowed: true, Patch: []byte(`[{"op":"add","path":"/a","value":1}]`), PatchType: &jp, Warnings: []string{"one", tricky}},
		{UID: "u", Result: &status{}},
		{UID: "u", Result: &status{Code: 403}},
		{UID: "u", Result: &status{Status: "Failure", Message: tricky, Reason: "Forbidden", Code: 403}, Warnings: []string{""}},
		{UID: "u", Result: &status{Message: "m"}, Patch: []byte{0, 1, 2, 0xff}, PatchType: &empty},
		{UID: "", Warnings: []string{}},
	} {
		for _, v := range []string{"admission.k8s.io/v1", "admission.k8s.io/v1beta1"} {
			var want bytes.Buffer
			require.NoError(t, json.NewEncoder(&want).Encode(&admissionReview{APIVersion: v, Kind: "AdmissionReview", Response: resp}))
			require.Equal(t, want.String(), string(appendReview([]byte("x"), v, resp)[1:]))
		}
	}
}
