// Package podspec is the part of the Kubernetes Pod API that the injector reads and writes,
// with the JSON names of k8s.io/api/core/v1, in a few hundred lines instead of that
// package's megabytes: the admission webhook links it instead of k8s.io/api, which halves
// its binary and memory (make bench).
//
// Nothing of an object is lost in a round trip. Every struct type keeps the JSON it was
// decoded from; encoding it again writes the modelled fields as they are now and every
// field this package does not model (a field added by a newer Kubernetes, say) as it came
// in. So a container the injector moves within a list keeps all of its fields, and a JSON
// patch computed from these types never removes what it did not model.
package podspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// Values of the enumerations the injector writes (as k8s.io/api/core/v1 spells them).
const (
	ContainerRestartPolicyAlways            = "Always"
	StorageMediumMemory                     = "Memory"
	TerminationMessageFallbackToLogsOnError = "FallbackToLogsOnError"
	SeccompProfileTypeRuntimeDefault        = "RuntimeDefault"

	ResourceCPU              = "cpu"
	ResourceMemory           = "memory"
	ResourceEphemeralStorage = "ephemeral-storage"
)

// Pod is a pod as an admission request carries it. Only metadata and spec are modelled;
// the webhook never writes a whole pod back (it answers with a patch).
type Pod struct {
	ObjectMeta `json:"metadata"`
	Spec       PodSpec `json:"spec"`
	raw        json.RawMessage
}

// ObjectMeta is the metadata the injector reads or changes. Unlike the other types it keeps
// no JSON of its own (Pod embeds it, and an embedded type's methods would be Pod's): the
// metadata's other fields are not kept when a whole Pod is encoded, which the injector never
// does (Patch encodes annotations, containers and volumes only).
type ObjectMeta struct {
	Name         string            `json:"name,omitempty"`
	GenerateName string            `json:"generateName,omitempty"`
	Namespace    string            `json:"namespace,omitempty"`
	UID          string            `json:"uid,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// PodSpec is the pod spec's containers, volumes and what the injector consults.
type PodSpec struct {
	Volumes               []Volume            `json:"volumes,omitempty"`
	InitContainers        []Container         `json:"initContainers,omitempty"`
	Containers            []Container         `json:"containers"`
	ServiceAccountName    string              `json:"serviceAccountName,omitempty"`
	ShareProcessNamespace *bool               `json:"shareProcessNamespace,omitempty"`
	SecurityContext       *PodSecurityContext `json:"securityContext,omitempty"`
	raw                   json.RawMessage
}

// Container is a container or an init container.
type Container struct {
	Name                     string                `json:"name"`
	Image                    string                `json:"image,omitempty"`
	Command                  []string              `json:"command,omitempty"`
	Args                     []string              `json:"args,omitempty"`
	Env                      []EnvVar              `json:"env,omitempty"`
	Resources                *ResourceRequirements `json:"resources,omitempty"`
	RestartPolicy            *string               `json:"restartPolicy,omitempty"`
	VolumeMounts             []VolumeMount         `json:"volumeMounts,omitempty"`
	LivenessProbe            *Probe                `json:"livenessProbe,omitempty"`
	ReadinessProbe           *Probe                `json:"readinessProbe,omitempty"`
	StartupProbe             *Probe                `json:"startupProbe,omitempty"`
	Lifecycle                json.RawMessage       `json:"lifecycle,omitempty"`
	TerminationMessagePolicy string                `json:"terminationMessagePolicy,omitempty"`
	SecurityContext          *SecurityContext      `json:"securityContext,omitempty"`
	raw                      json.RawMessage
}

// EnvVar is an environment variable; valueFrom is kept as it came.
type EnvVar struct {
	Name      string          `json:"name"`
	Value     string          `json:"value,omitempty"`
	ValueFrom json.RawMessage `json:"valueFrom,omitempty"`
	raw       json.RawMessage
}

// VolumeMount mounts a volume into a container.
type VolumeMount struct {
	Name              string  `json:"name"`
	ReadOnly          bool    `json:"readOnly,omitempty"`
	RecursiveReadOnly *string `json:"recursiveReadOnly,omitempty"`
	MountPath         string  `json:"mountPath"`
	SubPath           string  `json:"subPath,omitempty"`
	MountPropagation  *string `json:"mountPropagation,omitempty"`
	SubPathExpr       string  `json:"subPathExpr,omitempty"`
	raw               json.RawMessage
}

// ResourceList maps a resource name to a quantity, as written ("250m", "64Mi").
type ResourceList map[string]Quantity

// Quantity is a resource quantity as text. It decodes from a JSON string or a JSON number
// (the API accepts both) and encodes as a string.
type Quantity string

// UnmarshalJSON accepts "250m" and 2.5 alike.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*q = Quantity(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("a quantity must be a string or a number, got %s", b)
	}
	*q = Quantity(n.String())
	return nil
}

// ResourceRequirements are a container's requests and limits.
type ResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
	raw      json.RawMessage
}

// DeepCopy returns an independent copy (nil for nil).
func (r *ResourceRequirements) DeepCopy() *ResourceRequirements {
	if r == nil {
		return nil
	}
	return &ResourceRequirements{Limits: maps.Clone(r.Limits), Requests: maps.Clone(r.Requests), raw: slices.Clone(r.raw)}
}

// SecurityContext is a container's security context.
type SecurityContext struct {
	Capabilities             *Capabilities   `json:"capabilities,omitempty"`
	RunAsUser                *int64          `json:"runAsUser,omitempty"`
	RunAsGroup               *int64          `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool           `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool           `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool           `json:"allowPrivilegeEscalation,omitempty"`
	SeccompProfile           *SeccompProfile `json:"seccompProfile,omitempty"`
	raw                      json.RawMessage
}

// DeepCopy returns an independent copy (nil for nil).
func (s *SecurityContext) DeepCopy() *SecurityContext {
	if s == nil {
		return nil
	}
	out := *s
	if s.Capabilities != nil {
		c := *s.Capabilities
		c.Add, c.Drop = slices.Clone(c.Add), slices.Clone(c.Drop)
		out.Capabilities = &c
	}
	out.RunAsUser, out.RunAsGroup = clonePtr(s.RunAsUser), clonePtr(s.RunAsGroup)
	out.RunAsNonRoot, out.ReadOnlyRootFilesystem = clonePtr(s.RunAsNonRoot), clonePtr(s.ReadOnlyRootFilesystem)
	out.AllowPrivilegeEscalation = clonePtr(s.AllowPrivilegeEscalation)
	if s.SeccompProfile != nil {
		p := *s.SeccompProfile
		out.SeccompProfile = &p
	}
	return &out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// Capabilities are the Linux capabilities added and dropped.
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
	raw  json.RawMessage
}

// SeccompProfile selects a seccomp profile.
type SeccompProfile struct {
	Type             string  `json:"type"`
	LocalhostProfile *string `json:"localhostProfile,omitempty"`
	raw              json.RawMessage
}

// PodSecurityContext is the pod-level security context (read only).
type PodSecurityContext struct {
	RunAsUser      *int64          `json:"runAsUser,omitempty"`
	RunAsGroup     *int64          `json:"runAsGroup,omitempty"`
	SeccompProfile *SeccompProfile `json:"seccompProfile,omitempty"`
	raw            json.RawMessage
}

// Probe is a container probe; only exec handlers are modelled.
type Probe struct {
	Exec             *ExecAction `json:"exec,omitempty"`
	TimeoutSeconds   int32       `json:"timeoutSeconds,omitempty"`
	PeriodSeconds    int32       `json:"periodSeconds,omitempty"`
	FailureThreshold int32       `json:"failureThreshold,omitempty"`
	raw              json.RawMessage
}

// ExecAction runs a command in the container.
type ExecAction struct {
	Command []string `json:"command,omitempty"`
	raw     json.RawMessage
}

// Volume is a pod volume; the sources the injector adds are modelled.
type Volume struct {
	Name      string                 `json:"name"`
	EmptyDir  *EmptyDirVolumeSource  `json:"emptyDir,omitempty"`
	Secret    *SecretVolumeSource    `json:"secret,omitempty"`
	Projected *ProjectedVolumeSource `json:"projected,omitempty"`
	raw       json.RawMessage
}

// EmptyDirVolumeSource is an emptyDir volume.
type EmptyDirVolumeSource struct {
	Medium    string    `json:"medium,omitempty"`
	SizeLimit *Quantity `json:"sizeLimit,omitempty"`
	raw       json.RawMessage
}

// SecretVolumeSource is a secret volume.
type SecretVolumeSource struct {
	SecretName string `json:"secretName,omitempty"`
	raw        json.RawMessage
}

// ProjectedVolumeSource is a projected volume.
type ProjectedVolumeSource struct {
	Sources []VolumeProjection `json:"sources"`
	raw     json.RawMessage
}

// VolumeProjection is one source of a projected volume.
type VolumeProjection struct {
	ServiceAccountToken *ServiceAccountTokenProjection `json:"serviceAccountToken,omitempty"`
	raw                 json.RawMessage
}

// ServiceAccountTokenProjection is a projected service account token.
type ServiceAccountTokenProjection struct {
	Audience          string `json:"audience,omitempty"`
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
	Path              string `json:"path"`
	raw               json.RawMessage
}

// The methods below keep the decoded JSON (see the package comment). Each type converts
// itself to a local type without methods, so that encoding/json handles the fields.

func (x *Pod) UnmarshalJSON(b []byte) error {
	type plain Pod
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x Pod) MarshalJSON() ([]byte, error) { type plain Pod; return encodeKeeping(plain(x), x.raw) }

func (x *PodSpec) UnmarshalJSON(b []byte) error {
	type plain PodSpec
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x PodSpec) MarshalJSON() ([]byte, error) {
	type plain PodSpec
	return encodeKeeping(plain(x), x.raw)
}

func (x *Container) UnmarshalJSON(b []byte) error {
	type plain Container
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x Container) MarshalJSON() ([]byte, error) {
	type plain Container
	return encodeKeeping(plain(x), x.raw)
}

func (x *EnvVar) UnmarshalJSON(b []byte) error {
	type plain EnvVar
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x EnvVar) MarshalJSON() ([]byte, error) {
	type plain EnvVar
	return encodeKeeping(plain(x), x.raw)
}

func (x *VolumeMount) UnmarshalJSON(b []byte) error {
	type plain VolumeMount
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x VolumeMount) MarshalJSON() ([]byte, error) {
	type plain VolumeMount
	return encodeKeeping(plain(x), x.raw)
}

func (x *ResourceRequirements) UnmarshalJSON(b []byte) error {
	type plain ResourceRequirements
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x ResourceRequirements) MarshalJSON() ([]byte, error) {
	type plain ResourceRequirements
	return encodeKeeping(plain(x), x.raw)
}

func (x *SecurityContext) UnmarshalJSON(b []byte) error {
	type plain SecurityContext
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x SecurityContext) MarshalJSON() ([]byte, error) {
	type plain SecurityContext
	return encodeKeeping(plain(x), x.raw)
}

func (x *Capabilities) UnmarshalJSON(b []byte) error {
	type plain Capabilities
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x Capabilities) MarshalJSON() ([]byte, error) {
	type plain Capabilities
	return encodeKeeping(plain(x), x.raw)
}

func (x *SeccompProfile) UnmarshalJSON(b []byte) error {
	type plain SeccompProfile
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x SeccompProfile) MarshalJSON() ([]byte, error) {
	type plain SeccompProfile
	return encodeKeeping(plain(x), x.raw)
}

func (x *PodSecurityContext) UnmarshalJSON(b []byte) error {
	type plain PodSecurityContext
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x PodSecurityContext) MarshalJSON() ([]byte, error) {
	type plain PodSecurityContext
	return encodeKeeping(plain(x), x.raw)
}

func (x *Probe) UnmarshalJSON(b []byte) error {
	type plain Probe
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x Probe) MarshalJSON() ([]byte, error) { type plain Probe; return encodeKeeping(plain(x), x.raw) }

func (x *ExecAction) UnmarshalJSON(b []byte) error {
	type plain ExecAction
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x ExecAction) MarshalJSON() ([]byte, error) {
	type plain ExecAction
	return encodeKeeping(plain(x), x.raw)
}

func (x *Volume) UnmarshalJSON(b []byte) error {
	type plain Volume
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x Volume) MarshalJSON() ([]byte, error) {
	type plain Volume
	return encodeKeeping(plain(x), x.raw)
}

func (x *EmptyDirVolumeSource) UnmarshalJSON(b []byte) error {
	type plain EmptyDirVolumeSource
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x EmptyDirVolumeSource) MarshalJSON() ([]byte, error) {
	type plain EmptyDirVolumeSource
	return encodeKeeping(plain(x), x.raw)
}

func (x *SecretVolumeSource) UnmarshalJSON(b []byte) error {
	type plain SecretVolumeSource
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x SecretVolumeSource) MarshalJSON() ([]byte, error) {
	type plain SecretVolumeSource
	return encodeKeeping(plain(x), x.raw)
}

func (x *ProjectedVolumeSource) UnmarshalJSON(b []byte) error {
	type plain ProjectedVolumeSource
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x ProjectedVolumeSource) MarshalJSON() ([]byte, error) {
	type plain ProjectedVolumeSource
	return encodeKeeping(plain(x), x.raw)
}

func (x *VolumeProjection) UnmarshalJSON(b []byte) error {
	type plain VolumeProjection
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x VolumeProjection) MarshalJSON() ([]byte, error) {
	type plain VolumeProjection
	return encodeKeeping(plain(x), x.raw)
}

func (x *ServiceAccountTokenProjection) UnmarshalJSON(b []byte) error {
	type plain ServiceAccountTokenProjection
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x ServiceAccountTokenProjection) MarshalJSON() ([]byte, error) {
	type plain ServiceAccountTokenProjection
	return encodeKeeping(plain(x), x.raw)
}

// decodeKeeping decodes b into v (a pointer to a struct without methods) and keeps a copy
// of b in *raw, unless every key of b is modelled (then encoding needs no merge).
func decodeKeeping(b []byte, v any, raw *json.RawMessage) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	*raw = nil
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	if hasUnmodelledKey(b, modelled(reflect.TypeOf(v).Elem())) {
		*raw = bytes.Clone(b)
	}
	return nil
}

// hasUnmodelledKey reports whether the JSON object b has a top-level key outside known.
// b is valid JSON (it was just decoded), so a small scan suffices; a key with an escape is
// taken as unmodelled (no modelled key has one).
func hasUnmodelledKey(b []byte, known map[string]bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == '}' {
			return false
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		end := stringEnd(b, i)
		if end < 0 {
			return true
		}
		key := b[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 || !known[string(key)] {
			return true
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return true
		}
		i = valueEnd(b, skipSpace(b, i+1))
		if i < 0 {
			return true
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the JSON string starting at b[i], or -1.
func stringEnd(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index after the JSON value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			if i = stringEnd(b, i); i < 0 {
				return -1
			}
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the enclosing object: a scalar ended here
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	if depth == 0 {
		return i
	}
	return -1
}

// encodeKeeping encodes v (a struct without methods); with raw, the keys of raw that v's
// type does not model are added back, as they came.
func encodeKeeping(v any, raw json.RawMessage) ([]byte, error) {
	out, err := json.Marshal(v)
	if err != nil || len(raw) == 0 {
		return out, err
	}
	var kept map[string]json.RawMessage
	if err := json.Unmarshal(raw, &kept); err != nil {
		return nil, fmt.Errorf("podspec: kept JSON of %T: %w", v, err)
	}
	known := modelled(reflect.TypeOf(v))
	for k := range kept {
		if known[k] {
			delete(kept, k)
		}
	}
	if len(kept) == 0 {
		return out, nil
	}
	var now map[string]json.RawMessage
	if err := json.Unmarshal(out, &now); err != nil {
		return nil, err
	}
	maps.Copy(kept, now)
	return json.Marshal(kept)
}

var modelledKeys sync.Map // reflect.Type -> map[string]bool

// modelled returns the JSON keys of a struct type's fields.
func modelled(t reflect.Type) map[string]bool {
	if m, ok := modelledKeys.Load(t); ok {
		return m.(map[string]bool)
	}
	m := map[string]bool{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = true
	}
	modelledKeys.Store(t, m)
	return m
}
