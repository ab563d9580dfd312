// Package injector turns a pod with vault.hashicorp.com/* annotations into a pod with the
// vaultkube agent injected. It is pure: annotations -> validated Spec -> changed pod -> JSON
// patch, with no network access.
package injector

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gomodules.xyz/jsonpatch/v2"
	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// StatusInjected is the agent-inject-status value that makes re-invocation a no-op.
const StatusInjected = "injected"

// Mutate returns the pod with the agent injected, and admission warnings. A pod that does
// not ask for injection, is already injected or lives in a skipped namespace comes back
// unchanged (the same pointer). An error is a denial reason for the pod's author; it wraps
// *AnnotationError values.
func Mutate(pod *corev1.Pod, cfg Config) (*corev1.Pod, []string, error) {
	if pod == nil {
		return nil, nil, errors.New("no pod in the request")
	}
	for _, ns := range cfg.SkipNamespaces {
		if pod.Namespace == ns {
			return pod, nil, nil
		}
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
	out := pod.DeepCopy()
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

// strip removes what an earlier injection added, so that injecting again (status other
// than "injected") does not duplicate containers or volumes.
func strip(pod *corev1.Pod) {
	keepContainers := func(cs []corev1.Container) []corev1.Container {
		var out []corev1.Container
		for _, c := range cs {
			if ourContainers[c.Name] {
				continue
			}
			var mounts []corev1.VolumeMount
			for _, m := range c.VolumeMounts {
				if !ourVolumes[m.Name] && m.MountPath != TokenDir {
					mounts = append(mounts, m)
				}
			}
			c.VolumeMounts = mounts
			var env []corev1.EnvVar
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
	var vols []corev1.Volume
	for _, v := range pod.Spec.Volumes {
		if !ourVolumes[v.Name] {
			vols = append(vols, v)
		}
	}
	pod.Spec.Volumes = vols
}

// patchView is the part of a pod that Mutate may change, with the pod's JSON paths. Diffing
// it instead of the whole pod gives the same patch at half the cost (TestPatchViewCoversMutate
// checks the equivalence).
type patchView struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations,omitempty"`
	} `json:"metadata"`
	Spec struct {
		InitContainers        []corev1.Container `json:"initContainers,omitempty"`
		Containers            []corev1.Container `json:"containers"`
		Volumes               []corev1.Volume    `json:"volumes,omitempty"`
		ShareProcessNamespace *bool              `json:"shareProcessNamespace,omitempty"`
	} `json:"spec"`
}

func viewOf(p *corev1.Pod) *patchView {
	v := &patchView{}
	v.Metadata.Annotations = p.Annotations
	v.Spec.InitContainers = p.Spec.InitContainers
	v.Spec.Containers = p.Spec.Containers
	v.Spec.Volumes = p.Spec.Volumes
	v.Spec.ShareProcessNamespace = p.Spec.ShareProcessNamespace
	return v
}

// Patch computes the RFC 6902 JSON patch from before to after by diffing the JSON of the
// parts Mutate changes (annotations, containers, init containers, volumes,
// shareProcessNamespace). Operations are ordered deterministically.
func Patch(before, after *corev1.Pod) ([]jsonpatch.Operation, error) {
	return diffJSON(viewOf(before), viewOf(after))
}

// PatchFull is Patch over the whole pod: slower, used to check Patch.
func PatchFull(before, after *corev1.Pod) ([]jsonpatch.Operation, error) {
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
	_, err := strconv.Atoi(p[strings.LastIndexByte(p, '/')+1:])
	return err == nil
}

func sameParent(a, b string) bool {
	return a[:strings.LastIndexByte(a, '/')+1] == b[:strings.LastIndexByte(b, '/')+1]
}

func comparePaths(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for k := 0; k < len(as) && k < len(bs); k++ {
		if as[k] == bs[k] {
			continue
		}
		an, aerr := strconv.Atoi(as[k])
		bn, berr := strconv.Atoi(bs[k])
		if aerr == nil && berr == nil {
			if an < bn {
				return -1
			}
			return 1
		}
		if as[k] < bs[k] {
			return -1
		}
		return 1
	}
	return len(as) - len(bs)
}
