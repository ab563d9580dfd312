package injector

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// applyEnv is env mode: an init container installs the agent binary into a shared
// emptyDir and each selected container's command is wrapped by `vaultkube agent exec`.
func (b *builder) applyEnv() {
	pod, spec := b.pod, b.spec
	res := b.resources()
	sc := b.securityContext()
	install := corev1.Container{
		Name:                     InstallContainerName,
		Image:                    spec.Image,
		Command:                  b.cfg.agentArgv("install", AgentBinDir),
		Resources:                res,
		VolumeMounts:             []corev1.VolumeMount{{Name: VolumeAgentBin, MountPath: AgentBinDir}},
		SecurityContext:          sc,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	b.patchContainer(&install, AnnInitJSONPatch, spec.InitJSONPatch)
	env := b.agentEnv("exec", "")
	wrapped := 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if !b.selected(c.Name) {
			continue
		}
		if len(c.Command) == 0 {
			msg := fmt.Sprintf("container %q has no explicit command: env mode wraps the command as `vaultkube agent exec -- <command> <args>`, "+
				"and the webhook cannot see the image's ENTRYPOINT; set spec.containers[].command (for example to the image's entrypoint), "+
				"or list only containers with a command in %s", c.Name, AnnContainers)
			if b.cfg.EnvModeWarnOnly {
				// warnings over 256 characters may be truncated: keep this one short
				b.warnings = append(b.warnings, fmt.Sprintf("annotation %s: container %q has no explicit command to wrap and gets no secrets", ExtInjectEnv, c.Name))
				continue
			}
			b.fail(ExtInjectEnv, "%s", msg)
			continue
		}
		for _, e := range c.Env {
			if e.Name == agentconfig.EnvVar {
				b.fail(ExtInjectEnv, "container %q already sets %s", c.Name, agentconfig.EnvVar)
			}
		}
		cmd := append(append([]string(nil), ExecPrefix...), c.Command...)
		c.Command = append(cmd, c.Args...)
		c.Args = nil
		c.Env = append(c.Env, env...)
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeAgentBin, MountPath: AgentBinDir, ReadOnly: true})
		c.VolumeMounts = b.appendCredentialMounts(c.VolumeMounts)
		wrapped++
	}
	if wrapped == 0 && len(b.errs) == 0 {
		b.warnings = append(b.warnings, "annotation "+ExtInjectEnv+": no container was wrapped, the pod is left unchanged")
		b.noop = true
		return
	}
	// last, so that existing init containers keep their indices (and the patch leaves them alone)
	pod.Spec.InitContainers = append(pod.Spec.InitContainers, install)
}
