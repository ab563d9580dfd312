// Package injector turns a pod with vault.hashicorp.com/* annotations into a pod with the
// vaultkube agent injected. It is pure: annotations -> validated Spec -> changed pod -> JSON
// patch, with no network access.
package injector

import (
	"errors"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// StatusInjected is the agent-inject-status value that makes re-invocation a no-op.
const StatusInjected = "injected"

// Mutate returns the pod with the agent injected, and admission warnings. A pod that does
// not ask for injection, is already injected or lives in a skipped namespace comes back
// unchanged (the same pointer). Mutate does not modify pod. An error is a denial reason for
// the pod's author; it wraps *AnnotationError values. Patch turns the two pods into the
// admission response's JSON patch.
func Mutate(pod *corev1.Pod, cfg Config) (*corev1.Pod, []string, error) {
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
			if len(c.Command) > len(ExecPrefix) && slices.Equal(c.Command[:len(ExecPrefix)], ExecPrefix) {
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
