// Package injector turns a pod with vault.hashicorp.com/* annotations into a pod with the
// vaultkube agent injected. It is pure: annotations -> validated Spec -> changed pod -> JSON
// patch, with no network access.
package injector

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vaultkube/vaultkube/internal/jsonscan"
	"github.com/vaultkube/vaultkube/internal/podspec"
	"gomodules.xyz/jsonpatch/v2"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// StatusInjected is the agent-inject-status value that makes re-invocation a no-op.
const StatusInjected = "injected"

// Mutate returns the pod with the agent injected, and admission warnings. A pod that does
// not ask for injection, is already injected or lives in a skipped namespace comes back
// unchanged (the same pointer). Mutate does not modify pod; the result shares the parts it
// did not change with pod, so treat both as read-only. An error is a denial reason for the pod's author; it wraps
// *AnnotationError values.
func Mutate(pod *podspec.Pod, cfg Config) (*podspec.Pod, []string, error) {
	if pod == nil {
		return nil, nil, errors.New("no pod in the request")
	}
	if slices.Contains(SystemNamespaces, pod.Namespace) || slices.Contains(cfg.SkipNamespaces, pod.Namespace) {
		return pod, nil, nil
	}
	raw, ok := pod.Annotations[AnnInject]
	if !ok {
		return pod, nil, nil
	}
	inject, err := parseBool(raw)
	if err != nil {
		return nil, nil, &AnnotationError{Key: AnnInject, Problem: err.Error()}
	}
	if !inject {
		return pod, nil, nil
	}
	status, hadStatus := pod.Annotations[AnnStatus]
	if status == StatusInjected {
		return pod, nil, nil
	}
	spec, warnings, err := ParseAnnotations(pod.Annotations, cfg)
	if err != nil {
		return nil, warnings, err
	}
	out := shallowCopy(pod)
	if hadStatus {
		strip(out)
	}
	b := &builder{spec: spec, cfg: cfg, pod: out}
	b.apply()
	warnings = append(warnings, b.warnings...)
	if len(b.errs) > 0 {
		return nil, warnings, errors.Join(b.errs...)
	}
	if b.noop {
		return pod, warnings, nil
	}
	out.Annotations[AnnStatus] = StatusInjected
	return out, warnings, nil
}

// shallowCopy copies what Mutate changes (annotations, the container and volume lists, and
// the slices it appends to, clipped so that appending reallocates) and shares the rest with
// pod: a deep copy of a whole pod costs more than everything else Mutate does.
func shallowCopy(pod *podspec.Pod) *podspec.Pod {
	out := *pod
	out.Annotations = maps.Clone(pod.Annotations)
	out.Spec.Containers = cloneContainers(pod.Spec.Containers)
	out.Spec.InitContainers = cloneContainers(pod.Spec.InitContainers)
	out.Spec.Volumes = slices.Clip(pod.Spec.Volumes)
	return &out
}

func cloneContainers(cs []podspec.Container) []podspec.Container {
	if cs == nil {
		return nil
	}
	out := make([]podspec.Container, len(cs), len(cs)+2)
	copy(out, cs)
	for i := range out {
		out[i].Command = slices.Clip(out[i].Command)
		out[i].Args = slices.Clip(out[i].Args)
		out[i].Env = slices.Clip(out[i].Env)
		out[i].VolumeMounts = slices.Clip(out[i].VolumeMounts)
	}
	return out
}

// strip removes what an earlier injection added, so that injecting again (status other
// than "injected") does not duplicate containers or volumes.
func strip(pod *podspec.Pod) {
	keepContainers := func(cs []podspec.Container) []podspec.Container {
		var out []podspec.Container
		for _, c := range cs {
			if ourContainers[c.Name] {
				continue
			}
			var mounts []podspec.VolumeMount
			for _, m := range c.VolumeMounts {
				if !ourVolumes[m.Name] && m.MountPath != TokenDir {
					mounts = append(mounts, m)
				}
			}
			c.VolumeMounts = mounts
			var env []podspec.EnvVar
			for _, e := range c.Env {
				if e.Name != agentconfig.EnvVar {
					env = append(env, e)
				}
			}
			c.Env = env
			if len(c.Command) > len(ExecPrefix) && strings.Join(c.Command[:len(ExecPrefix)], "\x00") == strings.Join(ExecPrefix, "\x00") {
				c.Command = append([]string(nil), c.Command[len(ExecPrefix):]...)
			}
			out = append(out, c)
		}
		return out
	}
	pod.Spec.InitContainers = keepContainers(pod.Spec.InitContainers)
	pod.Spec.Containers = keepContainers(pod.Spec.Containers)
	var vols []podspec.Volume
	for _, v := range pod.Spec.Volumes {
		if !ourVolumes[v.Name] {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
}

// patchView is the part of a pod that Mutate may change, with the pod's JSON paths:
// annotations, containers, init containers, volumes and shareProcessNamespace.
//
// Array elements are reduced before diffing, on both sides alike:
//   - an element that is the same object before and after (same index, same name, equal
//     apart from the fields Mutate changes on existing containers) becomes just those
//     fields: object keys are addressed by name, so dropping equal siblings changes no path
//     and no operation; the lists of objects among them (env, volumeMounts) are reduced
//     in turn, an element equal on both sides becoming null (as does a container that
//     stays as it was);
//   - any other element becomes an opaque token, different on each side, so that the diff
//     emits one add, replace or remove for the whole element; the token in an operation's
//     value is then replaced by the element's JSON.
//
// The diff (gomodules.xyz/jsonpatch) still computes every path; applying the patch gives
// exactly the mutated pod, which TestPatchViewCoversMutate and the fuzz test check against
// a diff of the whole pods. Whole-element values also keep the diff from turning one
// container into another field by field when an init container is inserted first.
type patchView struct {
	Metadata struct {
		// a pointer, so that an emptied but existing map stays {} and is not dropped
		Annotations *map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		InitContainers        []any `json:"initContainers,omitempty"`
		Containers            []any `json:"containers"`
		Volumes               []any `json:"volumes,omitempty"`
		ShareProcessNamespace *bool `json:"shareProcessNamespace,omitempty"`
	} `json:"spec"`
}

// containerDelta holds the fields Mutate changes on containers it did not add, with the
// JSON names and omitempty of podspec.Container.
type containerDelta struct {
	Command      []string `json:"command,omitempty"`
	Args         []string `json:"args,omitempty"`
	Env          []any    `json:"env,omitempty"`          // element views of []podspec.EnvVar
	VolumeMounts []any    `json:"volumeMounts,omitempty"` // element views of []podspec.VolumeMount
}

// sameBesidesDelta reports whether two containers differ at most in the delta fields.
func sameBesidesDelta(a, b *podspec.Container) bool {
	if a.Name != b.Name {
		return false
	}
	x, y := *a, *b
	x.Command, x.Args, x.Env, x.VolumeMounts = nil, nil, nil, nil
	y.Command, y.Args, y.Env, y.VolumeMounts = nil, nil, nil, nil
	return reflect.DeepEqual(x, y)
}

// tokenNonce makes element tokens unguessable, so that no value in a pod can pass for one.
var tokenNonce = func() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}()

// elements hands out tokens for whole array elements and remembers the after-side ones.
type elements struct {
	n     int
	after map[string]any
}

// tokenPrefix starts every element token.
const tokenPrefix = "\x00vk:"

func (e *elements) token(side byte, v any) string {
	e.n++
	t := tokenPrefix + tokenNonce + string(side) + strconv.Itoa(e.n)
	if side == 'a' {
		e.after[t] = v
	}
	return t
}

// elementViews reduces two lists to their element views: same gives the views of two
// elements at one index that stay the same object, every other element is a token.
func elementViews[T any](e *elements, before, after []T, same func(e *elements, a, b *T) (any, any, bool)) (b, a []any) {
	for i := range max(len(before), len(after)) {
		if i < len(before) && i < len(after) {
			if vb, va, ok := same(e, &before[i], &after[i]); ok {
				b, a = append(b, vb), append(a, va)
				continue
			}
		}
		if i < len(before) {
			b = append(b, e.token('b', nil))
		}
		if i < len(after) {
			a = append(a, e.token('a', &after[i]))
		}
	}
	return b, a
}

func sameContainer(e *elements, x, y *podspec.Container) (any, any, bool) {
	if !sameBesidesDelta(x, y) {
		return nil, nil, false
	}
	// keep only the delta fields that differ; of the lists of objects, only the elements
	// that differ, as elsewhere
	var dx, dy containerDelta
	if !slices.Equal(x.Command, y.Command) {
		dx.Command, dy.Command = x.Command, y.Command
	}
	if !slices.Equal(x.Args, y.Args) {
		dx.Args, dy.Args = x.Args, y.Args
	}
	if !reflect.DeepEqual(x.Env, y.Env) {
		dx.Env, dy.Env = elementViews(e, x.Env, y.Env, sameElement)
	}
	if !reflect.DeepEqual(x.VolumeMounts, y.VolumeMounts) {
		dx.VolumeMounts, dy.VolumeMounts = elementViews(e, x.VolumeMounts, y.VolumeMounts, sameElement)
	}
	if dx.empty() && dy.empty() {
		return nil, nil, true // as sameElement
	}
	return dx, dy, true
}

func (d *containerDelta) empty() bool {
	return d.Command == nil && d.Args == nil && d.Env == nil && d.VolumeMounts == nil
}

// sameElement: an element equal on both sides at one index is the same, and its view is
// null (the diff decodes null without allocating, an empty object as a map).
func sameElement[T any](_ *elements, x, y *T) (any, any, bool) {
	if !reflect.DeepEqual(*x, *y) {
		return nil, nil, false
	}
	return nil, nil, true
}

// annotationViews drops the annotations that are equal on both sides (keys are addressed by
// name, so the others keep their paths). A map that exists on one side only stays whole.
func annotationViews(before, after map[string]string) (b, a *map[string]string) {
	// as the Pod's omitempty: a nil or empty map is absent
	if len(before) == 0 || len(after) == 0 {
		if len(before) > 0 {
			b = &before
		}
		if len(after) > 0 {
			a = &after
		}
		return b, a
	}
	bm, am := map[string]string{}, map[string]string{}
	b, a = &bm, &am
	for k, v := range before {
		if w, ok := after[k]; !ok || w != v {
			bm[k] = v
		}
	}
	for k, v := range after {
		if w, ok := before[k]; !ok || w != v {
			am[k] = v
		}
	}
	return b, a
}

func views(before, after *podspec.Pod) (*patchView, *patchView, *elements) {
	e := &elements{after: map[string]any{}}
	b, a := &patchView{}, &patchView{}
	b.Metadata.Annotations, a.Metadata.Annotations = annotationViews(before.Annotations, after.Annotations)
	b.Spec.InitContainers, a.Spec.InitContainers = elementViews(e, before.Spec.InitContainers, after.Spec.InitContainers, sameContainer)
	b.Spec.Containers, a.Spec.Containers = elementViews(e, before.Spec.Containers, after.Spec.Containers, sameContainer)
	b.Spec.Volumes, a.Spec.Volumes = elementViews(e, before.Spec.Volumes, after.Spec.Volumes, sameElement)
	b.Spec.ShareProcessNamespace, a.Spec.ShareProcessNamespace = before.Spec.ShareProcessNamespace, after.Spec.ShareProcessNamespace
	return b, a, e
}

// Patch computes the RFC 6902 JSON patch from before to after by diffing the JSON of the
// parts Mutate changes (see patchView). Operations are ordered deterministically.
func Patch(before, after *podspec.Pod) ([]jsonpatch.Operation, error) {
	b, a, e := views(before, after)
	ops, err := diffJSON(b, a)
	if err != nil {
		return nil, err
	}
	for i := range ops {
		if ops[i].Value, err = e.substitute(ops[i].Value); err != nil {
			return nil, fmt.Errorf("encode %s: %w", ops[i].Path, err)
		}
	}
	return ops, nil
}

// substitute replaces element tokens in an operation's value (the value itself, or the
// items of an array added whole) by the elements' JSON.
func (e *elements) substitute(v any) (any, error) {
	switch v := v.(type) {
	case string:
		if el, ok := e.after[v]; ok {
			raw, err := marshalElement(el)
			if err != nil {
				return nil, err
			}
			return json.RawMessage(raw), nil
		}
	case []any:
		for i := range v {
			var err error
			if v[i], err = e.substitute(v[i]); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		for k := range v {
			var err error
			if v[k], err = e.substitute(v[k]); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// marshalElement encodes a container or volume. Their MarshalJSON output is used as is:
// json.Marshal would validate and compact it once more (an agent container carries its
// configuration as a long JSON string).
func marshalElement(el any) ([]byte, error) {
	if m, ok := el.(json.Marshaler); ok {
		return m.MarshalJSON()
	}
	return json.Marshal(el)
}

// PatchFull is a diff of the whole pods: slower and noisier, used to check Patch.
func PatchFull(before, after *podspec.Pod) ([]jsonpatch.Operation, error) {
	return diffJSON(before, after)
}

func diffJSON(before, after any) ([]jsonpatch.Operation, error) {
	a, err := json.Marshal(before)
	if err != nil {
		return nil, fmt.Errorf("encode pod: %w", err)
	}
	b, err := json.Marshal(after)
	if err != nil {
		return nil, fmt.Errorf("encode mutated pod: %w", err)
	}
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("diff pods: %w", err)
	}
	sortOps(ops)
	return ops, nil
}

// sortOps orders operations by path, numerically for array indices. The diff only emits
// independent operations except tail adds (ascending) and tail removes (descending) of one
// array, whose order is kept.
func sortOps(ops []jsonpatch.Operation) {
	sort.SliceStable(ops, func(i, j int) bool {
		c := comparePaths(ops[i].Path, ops[j].Path)
		if ops[i].Operation == "remove" && ops[j].Operation == "remove" && sameParent(ops[i].Path, ops[j].Path) && indexLast(ops[i].Path) && indexLast(ops[j].Path) {
			return c > 0
		}
		return c < 0
	})
}

// indexLast reports whether the last path segment is an array index.
func indexLast(p string) bool {
	_, ok := atoi(p[strings.LastIndexByte(p, '/')+1:])
	return ok
}

// atoi is strconv.Atoi without the error value, which allocates: sortOps tries every
// path segment, and most are names.
func atoi(s string) (int, bool) {
	if len(s) == 0 || len(s) > 18 {
		n, err := strconv.Atoi(s)
		return n, err == nil
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			if i == 0 && (c == '+' || c == '-') && len(s) > 1 {
				n, err := strconv.Atoi(s)
				return n, err == nil
			}
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func sameParent(a, b string) bool {
	return a[:strings.LastIndexByte(a, '/')+1] == b[:strings.LastIndexByte(b, '/')+1]
}

func comparePaths(a, b string) int {
	for {
		as, arest, amore := strings.Cut(a, "/")
		bs, brest, bmore := strings.Cut(b, "/")
		if as != bs {
			an, aok := atoi(as)
			bn, bok := atoi(bs)
			switch {
			case aok && bok && an < bn:
				return -1
			case aok && bok:
				return 1
			case as < bs:
				return -1
			default:
				return 1
			}
		}
		switch {
		case !amore && !bmore:
			return 0
		case !amore:
			return -1
		case !bmore:
			return 1
		}
		a, b = arest, brest
	}
}

// EncodePatch writes operations as a JSON array, as json.Marshal would, without encoding
// and re-scanning values that are already JSON (the elements Patch inserts).
func EncodePatch(ops []jsonpatch.Operation) ([]byte, error) {
	size := 2
	for _, op := range ops {
		size += len(op.Path) + 40 + rawSize(op.Value)
	}
	buf := make([]byte, 0, size+256)
	buf = append(buf, '[')
	for i, op := range ops {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"op":`...)
		buf = jsonscan.AppendString(buf, op.Operation)
		buf = append(buf, `,"path":`...)
		buf = jsonscan.AppendString(buf, op.Path)
		if op.Value == nil && op.Operation != "add" && op.Operation != "replace" && op.Operation != "test" {
			buf = append(buf, '}')
			continue
		}
		buf = append(buf, `,"value":`...)
		switch v := op.Value.(type) {
		case json.RawMessage:
			buf = append(buf, v...)
		case []any:
			if !allRaw(v) {
				raw, err := json.Marshal(v)
				if err != nil {
					return nil, fmt.Errorf("encode %s: %w", op.Path, err)
				}
				buf = append(buf, raw...)
				break
			}
			buf = append(buf, '[')
			for i, e := range v {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, e.(json.RawMessage)...)
			}
			buf = append(buf, ']')
		default:
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("encode %s: %w", op.Path, err)
			}
			buf = append(buf, raw...)
		}
		buf = append(buf, '}')
	}
	return append(buf, ']'), nil
}

// rawSize is the size of the already encoded JSON in an operation's value.
func rawSize(v any) int {
	switch v := v.(type) {
	case json.RawMessage:
		return len(v)
	case []any:
		n := 0
		for _, e := range v {
			n += rawSize(e) + 1
		}
		return n
	}
	return 0
}

// allRaw reports whether every item of a list added whole is an element Patch encoded.
func allRaw(v []any) bool {
	for _, e := range v {
		if _, ok := e.(json.RawMessage); !ok {
			return false
		}
	}
	return true
}
