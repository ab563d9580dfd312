package injector

import (
	"encoding/json"
	"fmt"
	"strings"

	jsonpatch5 "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
)

// patchContainer applies an agent-json-patch style annotation to a built container.
func (b *builder) patchContainer(c *corev1.Container, key, patch string) {
	if patch == "" {
		return
	}
	p, err := jsonpatch5.DecodePatch([]byte(patch))
	if err != nil {
		b.fail(key, "not a JSON patch: %v", err)
		return
	}
	raw, err := json.Marshal(*c) // a copy: the container may stay on its builder's stack
	if err != nil {
		b.fail(key, "encode container: %v", err)
		return
	}
	out, err := p.Apply(raw)
	if err != nil {
		b.fail(key, "the patch does not apply to container %s: %v", c.Name, err)
		return
	}
	var patched corev1.Container
	if err := json.Unmarshal(out, &patched); err != nil {
		b.fail(key, "the patched container %s is not a container: %v", c.Name, err)
		return
	}
	if problem := b.patchedProblem(c, &patched); problem != "" {
		b.fail(key, "the patched container %s %s", c.Name, problem)
		return
	}
	*c = patched
}

// patchedProblem catches patches that would make the pod invalid, so that the denial names
// the annotation instead of the API server rejecting the pod later.
func (b *builder) patchedProblem(orig, c *corev1.Container) string {
	volumes := map[string]bool{}
	for _, v := range b.pod.Spec.Volumes {
		volumes[v.Name] = true
	}
	paths := map[string]bool{}
	for _, m := range c.VolumeMounts {
		switch {
		case !volumes[m.Name]:
			return fmt.Sprintf("mounts volume %q, which the pod does not have", m.Name)
		case paths[m.MountPath]:
			return fmt.Sprintf("mounts two volumes at %s", m.MountPath)
		case checkMountPath(m.MountPath) != nil:
			return fmt.Sprintf("has an invalid mount path %q", m.MountPath)
		}
		paths[m.MountPath] = true
	}
	sidecar := func(c *corev1.Container) bool {
		return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
	}
	switch {
	case c.Name != orig.Name:
		return "must keep its name"
	case strings.TrimSpace(c.Image) == "":
		return "has no image"
	case sidecar(c) != sidecar(orig) || (c.RestartPolicy == nil) != (orig.RestartPolicy == nil):
		return "must keep its restartPolicy"
	case !sidecar(c) && b.isInit(orig) && (c.StartupProbe != nil || c.LivenessProbe != nil || c.ReadinessProbe != nil || c.Lifecycle != nil):
		return "is an init container: Kubernetes allows no probes or lifecycle hooks on it"
	}
	return ""
}

func (b *builder) isInit(c *corev1.Container) bool {
	return c.Name == InitContainerName || c.Name == InstallContainerName || c.RestartPolicy != nil
}
