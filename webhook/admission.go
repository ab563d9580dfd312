package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// decodeReview decodes an AdmissionReview v1 (or v1beta1, the same shape) as the API
// server decodes JSON (case-sensitive member names). The request's object stays raw JSON:
// the pod is decoded from it, and the patch applies to it.
func decodeReview(body []byte) (*admissionv1.AdmissionRequest, string, error) {
	var review admissionv1.AdmissionReview
	if err := utiljson.Unmarshal(body, &review); err != nil {
		return nil, "", fmt.Errorf("decode AdmissionReview: %w", err)
	}
	if review.Request == nil {
		return nil, "", errors.New("AdmissionReview has no request")
	}
	return review.Request, review.APIVersion, nil
}

// decodePod decodes the request's pod.
func decodePod(raw []byte) (*corev1.Pod, error) {
	var pod corev1.Pod
	if err := utiljson.Unmarshal(raw, &pod); err != nil {
		return nil, err
	}
	return &pod, nil
}

// isPodCreate reports whether the request creates a pod (the only requests the injector
// changes).
func isPodCreate(req *admissionv1.AdmissionRequest) bool {
	return req.Kind.Group == "" && req.Kind.Kind == "Pod" && req.SubResource == "" && req.Operation == admissionv1.Create
}

// review wraps a response in an AdmissionReview of apiVersion.
func review(apiVersion string, resp *admissionv1.AdmissionResponse) *admissionv1.AdmissionReview {
	return &admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"},
		Response: resp,
	}
}

func deny(req *admissionv1.AdmissionRequest, msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{
		UID:     req.UID,
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusForbidden,
			Reason:  metav1.StatusReasonForbidden,
			Message: strings.TrimSpace(msg),
		},
	}
}
