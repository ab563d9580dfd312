package webhook

import "encoding/json"

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
