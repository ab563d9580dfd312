package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vaultkube/vaultkube/internal/jsonscan"
)

// The AdmissionReview of admission.k8s.io/v1 (and v1beta1, the same shape), the fields the
// webhook reads and writes, with the JSON names of k8s.io/api/admission/v1: the webhook does
// not link k8s.io/api (see internal/podspec). TestAdmissionTypesMatchK8s checks them against
// k8s.io/api.

type admissionReview struct {
	APIVersion string             `json:"apiVersion,omitempty"`
	Kind       string             `json:"kind,omitempty"`
	Request    *admissionRequest  `json:"request,omitempty"`
	Response   *admissionResponse `json:"response,omitempty"`
}

type groupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

type admissionRequest struct {
	UID         string           `json:"uid"`
	Kind        groupVersionKind `json:"kind"`
	SubResource string           `json:"subResource,omitempty"`
	Namespace   string           `json:"namespace,omitempty"`
	Operation   string           `json:"operation"`
	Object      json.RawMessage  `json:"object,omitempty"`
}

type admissionResponse struct {
	UID       string   `json:"uid"`
	Allowed   bool     `json:"allowed"`
	Result    *status  `json:"status,omitempty"`
	Patch     []byte   `json:"patch,omitempty"` // base64 in JSON, as k8s.io/api's []byte
	PatchType *string  `json:"patchType,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// status is the metav1.Status of a denial.
type status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
}

// decodeReview decodes an AdmissionReview; the object stays JSON (see decide), a part of
// body. The object is most of the bytes and a cache hit never decodes it, so encoding/json
// does not read it here: a raw walk finds request.object (as encoding/json would pick it:
// keys matched without regard to case, the last one winning, a null request dropping the
// one before), and encoding/json checks and decodes the rest with null in its place. The
// object is checked when the pod is decoded (podspec.DecodePod), and decide caches no
// answer for a pod that did not decode. If the rest is valid JSON and so is the object,
// so is the whole body; FuzzDecodeReview checks that this gives what json.Unmarshal gives.
func decodeReview(body []byte) (req *admissionRequest, apiVersion string, err error) {
	var (
		spans  [][2]int // every request.object value, at its offset in body
		object = -1     // the span that counts
	)
	jsonscan.EachMember(body, func(key, value []byte) bool {
		if !jsonscan.KeyMatches(key, "request") {
			return true
		}
		if string(trimSpace(value)) == "null" {
			object = -1
			return true
		}
		jsonscan.EachMember(value, func(k, v []byte) bool {
			if jsonscan.KeyMatches(k, "object") {
				v = trimSpace(v)
				at := cap(body) - cap(v)
				object, spans = len(spans), append(spans, [2]int{at, at + len(v)})
			}
			return true
		})
		return true
	})
	envelope := body
	if len(spans) > 0 {
		n := len(body)
		for _, s := range spans {
			n -= s[1] - s[0] - len("null")
		}
		envelope = make([]byte, 0, n)
		last := 0
		for i, s := range spans {
			// an object that is not decided on must still be JSON
			if i != object && !json.Valid(body[s[0]:s[1]]) {
				return nil, "", errors.New("decode AdmissionReview: request.object is not valid JSON")
			}
			envelope = append(append(envelope, body[last:s[0]]...), "null"...)
			last = s[1]
		}
		envelope = append(envelope, body[last:]...)
	}
	var review admissionReview
	if err := json.Unmarshal(envelope, &review); err != nil {
		return nil, "", fmt.Errorf("decode AdmissionReview: %w", err)
	}
	if review.Request == nil {
		return nil, "", errors.New("AdmissionReview has no request")
	}
	if object >= 0 {
		review.Request.Object = body[spans[object][0]:spans[object][1]]
	}
	return review.Request, review.APIVersion, nil
}

func trimSpace(b []byte) []byte { return bytes.Trim(b, " \t\r\n") }
