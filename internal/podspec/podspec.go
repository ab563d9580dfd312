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

	"github.com/vaultkube/vaultkube/internal/jsonscan"
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
}

// DeepCopy returns an independent copy (nil for nil).
func (r *ResourceRequirements) DeepCopy() *ResourceRequirements {
	if r == nil {
		return nil
	}
	return &ResourceRequirements{Limits: maps.Clone(r.Limits), Requests: maps.Clone(r.Requests)}
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
}

// SeccompProfile selects a seccomp profile.
type SeccompProfile struct {
	Type             string  `json:"type"`
	LocalhostProfile *string `json:"localhostProfile,omitempty"`
}

// PodSecurityContext is the pod-level security context (read only).
type PodSecurityContext struct {
	RunAsUser      *int64          `json:"runAsUser,omitempty"`
	RunAsGroup     *int64          `json:"runAsGroup,omitempty"`
	SeccompProfile *SeccompProfile `json:"seccompProfile,omitempty"`
}

// Probe is a container probe; only exec handlers are modelled.
type Probe struct {
	Exec             *ExecAction `json:"exec,omitempty"`
	TimeoutSeconds   int32       `json:"timeoutSeconds,omitempty"`
	PeriodSeconds    int32       `json:"periodSeconds,omitempty"`
	FailureThreshold int32       `json:"failureThreshold,omitempty"`
}

// ExecAction runs a command in the container.
type ExecAction struct {
	Command []string `json:"command,omitempty"`
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
}

// SecretVolumeSource is a secret volume.
type SecretVolumeSource struct {
	SecretName string `json:"secretName,omitempty"`
}

// ProjectedVolumeSource is a projected volume.
type ProjectedVolumeSource struct {
	Sources []VolumeProjection `json:"sources"`
}

// VolumeProjection is one source of a projected volume.
type VolumeProjection struct {
	ServiceAccountToken *ServiceAccountTokenProjection `json:"serviceAccountToken,omitempty"`
}

// ServiceAccountTokenProjection is a projected service account token.
type ServiceAccountTokenProjection struct {
	Audience          string `json:"audience,omitempty"`
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
	Path              string `json:"path"`
}

// Container and Volume keep the JSON they were decoded from when it has anything they do
// not model (at any depth), and merge it back when encoded (see encodeKeeping). The types
// inside them have no methods: encoding/json would validate and compact the output of each
// nested MarshalJSON again, and the webhook decodes and encodes these on every request.

func (x *Container) UnmarshalJSON(b []byte) error {
	type plain Container
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x Container) MarshalJSON() ([]byte, error) {
	type plain Container
	out, err := encodeContainer(&x)
	if err != nil {
		return nil, err
	}
	return encodeKeeping(out, x.raw, reflect.TypeFor[plain]())
}

// AppendJSON appends what MarshalJSON returns to dst, without a buffer of its own when x
// keeps no JSON it was decoded from (the containers the injector builds).
func (x *Container) AppendJSON(dst []byte) ([]byte, error) {
	if len(x.raw) == 0 {
		return appendContainer(dst, x)
	}
	out, err := x.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

// EncodedSizeHint is about the length of x's JSON, a little more for most containers.
func (x *Container) EncodedSizeHint() int { return containerSize(x) + len(x.raw) }

func (x *Volume) UnmarshalJSON(b []byte) error {
	type plain Volume
	return decodeKeeping(b, (*plain)(x), &x.raw)
}
func (x Volume) MarshalJSON() ([]byte, error) {
	type plain Volume
	return encodeKeeping(encodeVolume(&x), x.raw, reflect.TypeFor[plain]())
}

// AppendJSON appends what MarshalJSON returns to dst (see Container.AppendJSON).
func (x *Volume) AppendJSON(dst []byte) ([]byte, error) {
	if len(x.raw) == 0 {
		return appendVolume(dst, x), nil
	}
	out, err := x.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

// EncodedSizeHint is about the length of x's JSON.
func (x *Volume) EncodedSizeHint() int { return volumeSize(x) + len(x.raw) }

// decodeKeeping decodes b into v (a pointer to a struct without methods) and keeps a copy
// of b in *raw when b has a key, at any depth, that v's type does not model.
func decodeKeeping(b []byte, v any, raw *json.RawMessage) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	*raw = nil
	if hasUnmodelled(b, reflect.TypeOf(v).Elem()) {
		*raw = bytes.Clone(b)
	}
	return nil
}

// field is a modelled JSON key: its Go type with pointers removed.
type field struct{ t reflect.Type }

var modelledKeys sync.Map // reflect.Type -> map[string]field

// modelled returns the JSON keys of a struct type's fields.
func modelled(t reflect.Type) map[string]field {
	if m, ok := modelledKeys.Load(t); ok {
		return m.(map[string]field)
	}
	m := map[string]field{}
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
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		m[name] = field{t: ft}
	}
	modelledKeys.Store(t, m)
	return m
}

// structOf returns the struct type a value of t holds (itself, or the element of a slice
// of structs), or nil.
func structOf(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8 {
		t = t.Elem()
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	if t.Kind() == reflect.Struct {
		return t
	}
	return nil
}

// hasUnmodelled reports whether the JSON value b, decoded into t, has an object key that t
// (or the type of the field it is in) does not model. b is valid JSON (it was just
// decoded), so a small scan suffices; a key with an escape counts as unmodelled.
func hasUnmodelled(b []byte, t reflect.Type) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case '[':
		et := structOf(t)
		if et == nil || t.Kind() != reflect.Slice {
			return false
		}
		found := false
		jsonscan.EachElement(b, func(e []byte) bool {
			found = hasUnmodelled(e, et)
			return !found
		})
		return found
	case '{':
	default:
		return false
	}
	if t.Kind() != reflect.Struct {
		return false // a map (a ResourceList): any key is fine
	}
	known := modelled(t)
	found := false
	jsonscan.EachMember(b, func(key, value []byte) bool {
		f, ok := known[string(key)]
		if !ok || bytes.IndexByte(key, '\\') >= 0 {
			found = true
			return false
		}
		if st := structOf(f.t); st != nil {
			found = hasUnmodelled(value, f.t)
		}
		return !found
	})
	return found
}

// encodeKeeping returns out, the encoding of a value of struct type t (see encode.go);
// with raw, what raw has and t does not model is merged back (see merge).
func encodeKeeping(out []byte, raw json.RawMessage, t reflect.Type) ([]byte, error) {
	if len(raw) == 0 {
		return out, nil
	}
	merged, err := merge(raw, out, t)
	if err != nil {
		return nil, fmt.Errorf("podspec: merge the kept JSON of %v: %w", t, err)
	}
	return merged, nil
}

// merge returns now (the encoding of a value of struct type t) with the members of kept
// (what the value was decoded from) that t does not model. Modelled members come from now
// alone (a member now lacks was removed); objects in modelled struct fields are merged
// likewise, and so are the items of lists of objects, matched by "name" (and "mountPath"
// when they have one): a list the injector changed keeps what it did not model of the
// items it kept, wherever they moved; items of the same identity (unnamed ones, such as
// projected sources) pair in order.
func merge(kept, now []byte, t reflect.Type) ([]byte, error) {
	var k, n map[string]json.RawMessage
	if err := json.Unmarshal(kept, &k); err != nil || k == nil {
		return now, nil // not an object: nothing to keep
	}
	if err := json.Unmarshal(now, &n); err != nil || n == nil {
		return now, err
	}
	known := modelled(t)
	for key, kv := range k {
		f, ok := known[key]
		if !ok {
			n[key] = kv
			continue
		}
		nv, present := n[key]
		if !present {
			continue
		}
		var err error
		switch st := structOf(f.t); {
		case st == nil:
		case f.t.Kind() == reflect.Struct:
			n[key], err = merge(kv, nv, st)
		default:
			n[key], err = mergeElements(kv, nv, st)
		}
		if err != nil {
			return nil, err
		}
	}
	return json.Marshal(n)
}

func mergeElements(kept, now []byte, t reflect.Type) ([]byte, error) {
	var k, n []json.RawMessage
	if json.Unmarshal(kept, &k) != nil || json.Unmarshal(now, &n) != nil {
		return now, nil
	}
	// An item's identity is its name and, for types with one, its mount path (either may be
	// empty: a missing member decodes as the empty string, so both sides agree). Kept items of one identity are
	// handed out in order, so unnamed items (projected sources) pair by position.
	known := modelled(t)
	_, byPath := known["mountPath"]
	id := func(raw []byte) string {
		var v struct {
			Name      string `json:"name"`
			MountPath string `json:"mountPath"`
		}
		_ = json.Unmarshal(raw, &v)
		if !byPath {
			return v.Name // the type has no mount path: a member spelled like one is not one
		}
		return v.Name + "\x00" + v.MountPath
	}
	byID := map[string][][]byte{}
	for _, e := range k {
		key := id(e)
		byID[key] = append(byID[key], e)
	}
	changed := false
	for i := range n {
		key := id(n[i])
		queue := byID[key]
		if len(queue) == 0 {
			continue
		}
		byID[key] = queue[1:]
		m, err := merge(queue[0], n[i], t)
		if err != nil {
			return nil, err
		}
		n[i], changed = m, true
	}
	if !changed {
		return now, nil
	}
	return json.Marshal(n)
}
