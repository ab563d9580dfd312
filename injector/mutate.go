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
	"strconv"
	"strings"
	"sync"

	"github.com/vaultkube/vaultkube/internal/jsonscan"
	"github.com/vaultkube/vaultkube/internal/podspec"
	"github.com/wI2L/jsondiff"

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

// The patch is computed from views of the two pods: the part of a pod that Mutate may
// change (annotations, init containers, containers, volumes, shareProcessNamespace), built
// straight as JSON trees with the pod's JSON names and paths, so that the diff library
// (github.com/wI2L/jsondiff) compares Go values and no JSON is written and read back.
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
// The library still computes every path and operation; applying the patch gives exactly
// the mutated pod, which TestPatchViewCoversMutate and the fuzz test check against a diff
// of the whole pods. Whole-element values also keep the diff from turning one container
// into another field by field when an init container is inserted first.

// sameBesidesDelta reports whether two containers differ at most in the fields Mutate
// changes on containers it did not add: command, args, env and volumeMounts.
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

// elements hands out tokens for whole array elements and remembers the after-side ones:
// after[n-1] is the element of token n.
type elements struct {
	after []any
}

// tokenPrefix starts every element token.
const tokenPrefix = "\x00vk:"

// tokens holds the first tokens of each side, made once: a pod rarely has more elements.
var tokens = func() (t [2][64]string) {
	for side := range t {
		for n := range t[side] {
			t[side][n] = makeToken(tokenSide(side), n)
		}
	}
	return t
}()

func tokenSide(i int) byte { return "ba"[i] }

func makeToken(side byte, n int) string {
	return tokenPrefix + tokenNonce + string(side) + strconv.Itoa(n)
}

func tokenFor(side byte, n int) string {
	i := 0
	if side == 'a' {
		i = 1
	}
	if n < len(tokens[i]) {
		return tokens[i][n]
	}
	return makeToken(side, n)
}

// token returns a new token for an element of the before ('b') or after ('a') side.
func (e *elements) token(side byte, v any) string {
	n := len(e.after)
	e.after = append(e.after, v) // one count for both sides; only after-side elements are read
	return tokenFor(side, n)
}

// element returns the after-side element a token stands for.
func (e *elements) element(s string) (any, bool) {
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return nil, false
	}
	if rest, ok = strings.CutPrefix(rest, tokenNonce+"a"); !ok {
		return nil, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || n >= len(e.after) || s != tokenFor('a', n) {
		return nil, false
	}
	return e.after[n], true
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

// sameContainer: the view of a container that stays the same object is an object of the
// delta fields that differ; of the lists of objects among them, only the elements that
// differ, as elsewhere. A container that stays as it was is null.
func sameContainer(e *elements, x, y *podspec.Container) (any, any, bool) {
	if !sameBesidesDelta(x, y) {
		return nil, nil, false
	}
	var dx, dy map[string]any
	set := func(key string, vx, vy []any) {
		if dx == nil {
			dx, dy = make(map[string]any, 2), make(map[string]any, 2)
		}
		setList(dx, key, vx, true)
		setList(dy, key, vy, true)
	}
	if !slices.Equal(x.Command, y.Command) {
		set("command", stringList(x.Command), stringList(y.Command))
	}
	if !slices.Equal(x.Args, y.Args) {
		set("args", stringList(x.Args), stringList(y.Args))
	}
	if !reflect.DeepEqual(x.Env, y.Env) {
		vx, vy := elementViews(e, x.Env, y.Env, sameElement)
		set("env", vx, vy)
	}
	if !reflect.DeepEqual(x.VolumeMounts, y.VolumeMounts) {
		vx, vy := elementViews(e, x.VolumeMounts, y.VolumeMounts, sameElement)
		set("volumeMounts", vx, vy)
	}
	if dx == nil {
		return nil, nil, true // as sameElement
	}
	return dx, dy, true
}

// sameElement: an element equal on both sides at one index is the same, and its view is
// null.
func sameElement[T any](_ *elements, x, y *T) (any, any, bool) {
	if !reflect.DeepEqual(*x, *y) {
		return nil, nil, false
	}
	return nil, nil, true
}

func stringList(s []string) []any {
	if s == nil {
		return nil
	}
	l := make([]any, len(s))
	for i, v := range s {
		l[i] = v
	}
	return l
}

// setList sets a list member as encoding/json writes a slice field: a nil list is null,
// and with omitempty an empty one is left out. The value stored is []any or untyped nil:
// the diff tells JSON types apart by the Go type.
func setList(m map[string]any, key string, l []any, omitEmpty bool) {
	switch {
	case omitEmpty && len(l) == 0:
	case l == nil:
		m[key] = nil
	default:
		m[key] = l
	}
}

// annotationViews drops the annotations that are equal on both sides (keys are addressed by
// name, so the others keep their paths). A map that exists on one side only stays whole.
// As with the Pod's omitempty, a nil or empty map is absent (nil).
func annotationViews(before, after map[string]string) (b, a map[string]any) {
	if len(before) == 0 || len(after) == 0 {
		return stringMap(before), stringMap(after)
	}
	// an emptied but existing map stays {}
	b, a = map[string]any{}, map[string]any{}
	for k, v := range before {
		if w, ok := after[k]; !ok || w != v {
			b[k] = v
		}
	}
	for k, v := range after {
		if w, ok := before[k]; !ok || w != v {
			a[k] = v
		}
	}
	return b, a
}

func stringMap(m map[string]string) map[string]any {
	if len(m) == 0 {
		return nil
	}
	t := make(map[string]any, len(m))
	for k, v := range m {
		t[k] = v
	}
	return t
}

// views builds the JSON trees of the two pods' views (see above).
func views(before, after *podspec.Pod) (b, a map[string]any, e *elements) {
	e = &elements{after: make([]any, 0, 8)}
	bm, am := make(map[string]any, 1), make(map[string]any, 1)
	vm, wm := annotationViews(before.Annotations, after.Annotations)
	if vm != nil {
		bm["annotations"] = vm
	}
	if wm != nil {
		am["annotations"] = wm
	}
	bs, as := make(map[string]any, 4), make(map[string]any, 4)
	vb, va := elementViews(e, before.Spec.InitContainers, after.Spec.InitContainers, sameContainer)
	setList(bs, "initContainers", vb, true)
	setList(as, "initContainers", va, true)
	vb, va = elementViews(e, before.Spec.Containers, after.Spec.Containers, sameContainer)
	setList(bs, "containers", vb, false)
	setList(as, "containers", va, false)
	vb, va = elementViews(e, before.Spec.Volumes, after.Spec.Volumes, sameElement)
	setList(bs, "volumes", vb, true)
	setList(as, "volumes", va, true)
	if p := before.Spec.ShareProcessNamespace; p != nil {
		bs["shareProcessNamespace"] = *p
	}
	if p := after.Spec.ShareProcessNamespace; p != nil {
		as["shareProcessNamespace"] = *p
	}
	b = map[string]any{"metadata": bm, "spec": bs}
	a = map[string]any{"metadata": am, "spec": as}
	return b, a, e
}

// Patch computes the RFC 6902 JSON patch from before to after by diffing the views of the
// parts Mutate changes (see above). The library orders operations deterministically: object
// members by name, array elements by index, appends last.
func Patch(before, after *podspec.Pod) ([]jsondiff.Operation, error) {
	b, a, e := views(before, after)
	ops, err := diff(b, a)
	if err != nil {
		return nil, err
	}
	for i := range ops {
		ops[i].Value = e.substitute(ops[i].Value)
		ops[i].OldValue = nil
	}
	return ops, nil
}

// differs keeps jsondiff's Differs, which keep their buffers across comparisons.
var differs = sync.Pool{New: func() any { return new(jsondiff.Differ) }}

// diff compares two JSON trees with a pooled Differ and returns a copy of its operations.
// The Differ panics on a value that is not a JSON type (the views have none): that is an
// error here, and that Differ is not used again.
func diff(b, a any) (ops []jsondiff.Operation, err error) {
	d := differs.Get().(*jsondiff.Differ)
	defer func() {
		if r := recover(); r != nil {
			ops, err = nil, fmt.Errorf("diff pods: %v", r)
			return
		}
		clear(d.Patch()) // keep no values alive in the pool
		differs.Put(d)
	}()
	d.Reset()
	d.Compare(b, a)
	return slices.Clone(d.Patch()), nil
}

// substitute replaces element tokens in an operation's value (the value itself, or the
// items of an array added whole) by the elements.
func (e *elements) substitute(v any) any {
	switch v := v.(type) {
	case string:
		if el, ok := e.element(v); ok {
			return element{el}
		}
	case []any:
		for i := range v {
			v[i] = e.substitute(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = e.substitute(v[k])
		}
	}
	return v
}

// element is a whole container, volume, env var or volume mount in an operation's value.
// EncodePatch writes it straight into the patch; json.Marshal gives the same bytes.
type element struct{ v any }

func (el element) MarshalJSON() ([]byte, error) { return el.appendJSON(nil) }

// appendJSON writes the element as its MarshalJSON (if any) does, without validating and
// compacting it again as json.Marshal would (an agent container carries its configuration
// as a long JSON string).
func (el element) appendJSON(dst []byte) ([]byte, error) {
	switch v := el.v.(type) {
	case *podspec.Container:
		return v.AppendJSON(dst)
	case *podspec.Volume:
		return v.AppendJSON(dst)
	}
	raw, err := json.Marshal(el.v)
	if err != nil {
		return nil, err
	}
	return append(dst, raw...), nil
}

func (el element) sizeHint() int {
	switch v := el.v.(type) {
	case *podspec.Container:
		return v.EncodedSizeHint()
	case *podspec.Volume:
		return v.EncodedSizeHint()
	}
	return 128
}

// PatchFull is a diff of the whole pods: slower and noisier, used to check Patch.
func PatchFull(before, after *podspec.Pod) ([]jsondiff.Operation, error) {
	ops, err := jsondiff.Compare(before, after)
	if err != nil {
		return nil, fmt.Errorf("diff pods: %w", err)
	}
	return ops, nil
}

// EncodePatch writes operations as a JSON array, as json.Marshal would, with the elements
// Patch leaves in them written straight in (see element).
func EncodePatch(ops []jsondiff.Operation) ([]byte, error) {
	return AppendPatch(nil, ops)
}

// AppendPatch appends what EncodePatch returns to buf.
func AppendPatch(buf []byte, ops []jsondiff.Operation) ([]byte, error) {
	size := 2
	for _, op := range ops {
		size += len(op.Path) + 40 + elementsSize(op.Value)
	}
	buf = slices.Grow(buf, size+256)
	buf = append(buf, '[')
	for i, op := range ops {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"op":`...)
		buf = jsonscan.AppendString(buf, op.Type)
		if op.Type == jsondiff.OperationMove || op.Type == jsondiff.OperationCopy {
			buf = append(buf, `,"from":`...)
			buf = jsonscan.AppendString(buf, op.From)
		}
		buf = append(buf, `,"path":`...)
		buf = jsonscan.AppendString(buf, op.Path)
		if op.Type != jsondiff.OperationAdd && op.Type != jsondiff.OperationReplace && op.Type != jsondiff.OperationTest {
			buf = append(buf, '}')
			continue
		}
		buf = append(buf, `,"value":`...)
		var err error
		switch v := op.Value.(type) {
		case element:
			if buf, err = v.appendJSON(buf); err != nil {
				return nil, fmt.Errorf("encode %s: %w", op.Path, err)
			}
		case []any:
			if !allElements(v) {
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
				if buf, err = e.(element).appendJSON(buf); err != nil {
					return nil, fmt.Errorf("encode %s: %w", op.Path, err)
				}
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

// elementsSize is about the size of the elements in an operation's value.
func elementsSize(v any) int {
	switch v := v.(type) {
	case element:
		return v.sizeHint()
	case []any:
		n := 0
		for _, e := range v {
			n += elementsSize(e) + 1
		}
		return n
	}
	return 0
}

// allElements reports whether every item of a list added whole is an element.
func allElements(v []any) bool {
	for _, e := range v {
		if _, ok := e.(element); !ok {
			return false
		}
	}
	return true
}
