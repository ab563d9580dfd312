package injector

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Operation is one operation of an RFC 6902 JSON patch.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// Patch returns the JSON patch that turns before into after, where after is what Mutate
// made of before. The patch only adds: the containers and volumes injection adds (inserted
// at their places), mounts and env vars appended to existing containers, annotations, and the
// members injection sets on existing objects (an env-mode command, shareProcessNamespace;
// an RFC 6902 add on an existing member replaces that member alone). Re-injecting a pod
// whose status is not "injected" also removes what the earlier injection added. No
// operation's value is an existing object written out again, so every field of the
// request's pod that k8s.io/api does not know survives.
//
// Patch fails when the containers or volumes of after differ from before's in a way the
// patch cannot carry like this (for example an existing container changed in a field other
// than command, args, env and volumeMounts): that is a bug in Mutate. It looks at nothing
// else of the pods (the tests check that Mutate changes nothing else).
func Patch(before, after *corev1.Pod) ([]Operation, error) {
	p := &patcher{}
	p.annotations(before.Annotations, after.Annotations)
	if b, a := before.Spec.ShareProcessNamespace, after.Spec.ShareProcessNamespace; (b == nil) != (a == nil) || (a != nil && *a != *b) {
		p.set("/spec/shareProcessNamespace", a, a == nil)
	}
	if err := namedList(p, "/spec/volumes", before.Spec.Volumes, after.Spec.Volumes, volumeName, p.volume); err != nil {
		return nil, err
	}
	if err := namedList(p, "/spec/initContainers", before.Spec.InitContainers, after.Spec.InitContainers, containerName, p.container); err != nil {
		return nil, err
	}
	if err := namedList(p, "/spec/containers", before.Spec.Containers, after.Spec.Containers, containerName, p.container); err != nil {
		return nil, err
	}
	return p.ops, nil
}

// patcher collects operations.
type patcher struct{ ops []Operation }

func (p *patcher) add(path string, v any) {
	p.ops = append(p.ops, Operation{Op: "add", Path: path, Value: v})
}

func (p *patcher) remove(path string) {
	p.ops = append(p.ops, Operation{Op: "remove", Path: path})
}

// set adds (replaces) a member, or removes it.
func (p *patcher) set(path string, v any, remove bool) {
	if remove {
		p.remove(path)
		return
	}
	p.add(path, v)
}

// tokenEscaper escapes a JSON Pointer reference token (RFC 6901).
var tokenEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// pointer appends reference tokens to a JSON Pointer, escaped.
func pointer(base string, tokens ...string) string {
	var b strings.Builder
	b.WriteString(base)
	for _, t := range tokens {
		b.WriteByte('/')
		_, _ = tokenEscaper.WriteString(&b, t)
	}
	return b.String()
}

func index(base string, i int) string { return base + "/" + strconv.Itoa(i) }

// annotations adds the annotations that are new or changed, one by one; a pod without
// annotations gets the map. (Mutate only changes pods that have annotations.)
func (p *patcher) annotations(before, after map[string]string) {
	if len(before) == 0 {
		if len(after) > 0 {
			p.add("/metadata/annotations", after)
		}
		return
	}
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[k]; !ok {
			p.remove(pointer("/metadata/annotations", k))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if v, ok := before[k]; !ok || v != after[k] {
			p.add(pointer("/metadata/annotations", k), after[k])
		}
	}
}

func containerName(c *corev1.Container) string { return c.Name }
func volumeName(v *corev1.Volume) string       { return v.Name }

// namedList patches a list of named elements: edit patches an element kept (by name) at
// its index before, then the elements gone are removed (the last first), then the new
// ones are inserted at their indices after, in order. A list that was empty (or absent)
// is added whole. The elements kept must keep their order.
func namedList[T any](p *patcher, path string, before, after []T, name func(*T) string, edit func(path string, b, a *T) error) error {
	at := make(map[string]int, len(after))
	for j := range after {
		n := name(&after[j])
		if _, dup := at[n]; dup {
			return fmt.Errorf("internal error: two elements named %q in %s", n, path)
		}
		at[n] = j
	}
	was := make(map[string]bool, len(before))
	last := -1
	for i := range before {
		n := name(&before[i])
		was[n] = true
		j, kept := at[n]
		if !kept {
			continue
		}
		if j < last {
			return fmt.Errorf("internal error: %s %q moved", path, n)
		}
		last = j
		if err := edit(index(path, i), &before[i], &after[j]); err != nil {
			return err
		}
	}
	for i := len(before) - 1; i >= 0; i-- {
		if _, kept := at[name(&before[i])]; !kept {
			p.remove(index(path, i))
		}
	}
	if len(before) == 0 {
		if len(after) > 0 {
			p.add(path, after)
		}
		return nil
	}
	for j := range after {
		if !was[name(&after[j])] {
			p.add(index(path, j), &after[j])
		}
	}
	return nil
}

// volume: a volume that stays must stay as it was.
func (p *patcher) volume(path string, b, a *corev1.Volume) error {
	if !equality.Semantic.DeepEqual(b, a) {
		return fmt.Errorf("internal error: volume %q changed", b.Name)
	}
	return nil
}

// container patches a container that stays: Mutate changes its command, args, env and
// volume mounts, nothing else.
func (p *patcher) container(path string, b, a *corev1.Container) error {
	x, y := *b, *a
	x.Command, x.Args, x.Env, x.VolumeMounts = nil, nil, nil, nil
	y.Command, y.Args, y.Env, y.VolumeMounts = nil, nil, nil, nil
	if !equality.Semantic.DeepEqual(x, y) {
		return fmt.Errorf("internal error: container %q changed beyond command, args, env and volumeMounts", b.Name)
	}
	appendList(p, path+"/volumeMounts", b.VolumeMounts, a.VolumeMounts)
	appendList(p, path+"/env", b.Env, a.Env)
	if !slices.Equal(b.Command, a.Command) {
		p.set(path+"/command", a.Command, a.Command == nil)
	}
	if !slices.Equal(b.Args, a.Args) {
		p.set(path+"/args", a.Args, a.Args == nil)
	}
	return nil
}

// appendList patches a list that after holds as the elements of before, some of them
// removed, followed by new ones: removals (the last first), then appends. A list that was
// empty (or absent) is added whole.
func appendList[T any](p *patcher, path string, before, after []T) {
	j := 0
	var gone []int
	for i := range before {
		if j < len(after) && equality.Semantic.DeepEqual(before[i], after[j]) {
			j++
			continue
		}
		gone = append(gone, i)
	}
	for k := len(gone) - 1; k >= 0; k-- {
		p.remove(index(path, gone[k]))
	}
	added := after[j:]
	switch {
	case len(added) == 0:
	case len(before) == 0:
		p.add(path, added)
	default:
		for k := range added {
			p.add(path+"/-", &added[k])
		}
	}
}
