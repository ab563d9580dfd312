package webhook

import (
	"encoding/base64"
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

	// patchBuffer, when set, holds Patch and goes back to the handler's pool once the
	// answer is written: a decision that is cached keeps a copy.
	patchBuffer *[]byte
}

// status is the metav1.Status of a denial.
type status struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Code    int32  `json:"code,omitempty"`
}

// decodeReview decodes an AdmissionReview as json.Unmarshal does (FuzzDecodeReview), in
// one pass that checks the whole body; the object stays JSON (see decide), a part of
// body. The response members a review may carry are checked and dropped.
func decodeReview(body []byte) (req *admissionRequest, apiVersion string, err error) {
	d := jsonscan.NewDecoder(body)
	var review admissionReview
	d.Object(reviewMembers, func(name string) {
		switch name {
		case "apiVersion":
			d.Str(&review.APIVersion)
		case "kind":
			d.Str(&review.Kind)
		case "request":
			jsonscan.Pointer(d, &review.Request, func(r *admissionRequest) { decodeRequest(d, r) })
		case "response":
			jsonscan.Pointer(d, &review.Response, func(r *admissionResponse) { decodeResponse(d, r) })
		}
	})
	if err := d.End(); err != nil {
		return nil, "", fmt.Errorf("decode AdmissionReview: %w", err)
	}
	if review.Request == nil {
		return nil, "", errors.New("AdmissionReview has no request")
	}
	return review.Request, review.APIVersion, nil
}

// The JSON members of the admission types (TestAdmissionMembers checks them).
var (
	reviewMembers   = []string{"apiVersion", "kind", "request", "response"}
	gvkMembers      = []string{"group", "version", "kind"}
	requestMembers  = []string{"uid", "kind", "subResource", "namespace", "operation", "object"}
	responseMembers = []string{"uid", "allowed", "status", "patch", "patchType", "warnings"}
	statusMembers   = []string{"status", "message", "reason", "code"}
)

func decodeRequest(d *jsonscan.Decoder, r *admissionRequest) {
	d.Object(requestMembers, func(name string) {
		switch name {
		case "uid":
			d.Str(&r.UID)
		case "kind":
			d.Object(gvkMembers, func(name string) {
				switch name {
				case "group":
					d.Str(&r.Kind.Group)
				case "version":
					d.Str(&r.Kind.Version)
				case "kind":
					d.Str(&r.Kind.Kind)
				}
			})
		case "subResource":
			d.Str(&r.SubResource)
		case "namespace":
			d.Str(&r.Namespace)
		case "operation":
			d.Str(&r.Operation)
		case "object":
			// a part of the body, not a copy: the request does not outlive it
			if raw := d.Raw(); raw != nil {
				r.Object = raw
			}
		}
	})
}

func decodeResponse(d *jsonscan.Decoder, r *admissionResponse) {
	d.Object(responseMembers, func(name string) {
		switch name {
		case "uid":
			d.Str(&r.UID)
		case "allowed":
			d.Boolean(&r.Allowed)
		case "status":
			jsonscan.Pointer(d, &r.Result, func(s *status) {
				d.Object(statusMembers, func(name string) {
					switch name {
					case "status":
						d.Str(&s.Status)
					case "message":
						d.Str(&s.Message)
					case "reason":
						d.Str(&s.Reason)
					case "code":
						d.Int32(&s.Code)
					}
				})
			})
		case "patch":
			decodeBytes(d, &r.Patch)
		case "patchType":
			d.StrPtr(&r.PatchType)
		case "warnings":
			d.Strs(&r.Warnings)
		}
	})
}

// decodeBytes reads a []byte as encoding/json does: base64 in a string, or a list of
// numbers from 0 to 255.
func decodeBytes(d *jsonscan.Decoder, b *[]byte) {
	switch k := d.Kind(); k {
	case jsonscan.String:
		s := d.StringBytes()
		out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(out, s)
		if err != nil {
			d.Fail(fmt.Errorf("%s: %w", d.Field(), err))
			return
		}
		*b = out[:n]
	case jsonscan.Array, jsonscan.Null:
		jsonscan.List(d, b, func(c *byte) {
			if n, ok := d.Integer(8, true); ok {
				*c = byte(n)
			}
		})
	default:
		d.TypeError(k, "base64 in a string")
	}
}
