package injector

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

// Names and paths of what the injector adds to a pod. The agent relies on the commands.
const (
	AgentContainerName   = "vault-agent"
	InitContainerName    = "vault-agent-init"
	InstallContainerName = "vaultkube-install"

	VolumeSecrets  = "vaultkube-secrets"
	VolumeHome     = "vaultkube-home"
	VolumeToken    = "vaultkube-token"
	VolumeTLS      = "vaultkube-tls"
	VolumeExtra    = "vaultkube-extra-secret"
	VolumeAgentBin = "vaultkube-agent-bin"

	HomePath    = "/home/vault"
	TokenDir    = "/var/run/secrets/vaultkube/serviceaccount"
	TokenPath   = TokenDir + "/token"
	TLSPath     = "/vault/tls"
	ExtraPath   = "/vault/custom"
	AgentBinDir = "/vault/agent-bin"
	ReadyFile   = HomePath + "/ready"
	// AgentBinary is the default path of the agent binary in the agent image.
	AgentBinary  = "/vaultkube-agent"
	serviceAcctK = "/var/run/secrets/kubernetes.io/serviceaccount"
)

// Commands of the injected containers with the default AgentBinary (argv, no shell).
var (
	AgentCommand   = []string{AgentBinary, "agent"}
	ProbeCommand   = []string{AgentBinary, "agent", "probe"}
	InstallCommand = []string{AgentBinary, "agent", "install", AgentBinDir}
	ExecPrefix     = []string{AgentBinDir + "/vaultkube", "agent", "exec", "--"}
)

var ourVolumes = map[string]bool{VolumeSecrets: true, VolumeHome: true, VolumeToken: true, VolumeTLS: true, VolumeExtra: true, VolumeAgentBin: true}
var ourContainers = map[string]bool{AgentContainerName: true, InitContainerName: true, InstallContainerName: true}

// builder applies a Spec to a copy of the pod.
type builder struct {
	spec     *Spec
	cfg      Config
	pod      *corev1.Pod
	warnings []string
	errs     []error
	// noop is set when nothing should change after all (env mode with no container to wrap).
	noop bool
}

func (b *builder) fail(key, format string, args ...any) {
	b.errs = append(b.errs, &AnnotationError{Key: key, Problem: fmt.Sprintf(format, args...)})
}

func (b *builder) native() bool {
	if b.spec.NativeSidecar != nil {
		return *b.spec.NativeSidecar
	}
	switch b.cfg.NativeSidecar {
	case NativeTrue:
		return true
	case NativeFalse:
		return false
	}
	return b.cfg.ServerSupportsNativeSidecars()
}

// selected reports whether app container name gets the secrets (or the env wrapper).
func (b *builder) selected(name string) bool {
	if b.spec.Containers == nil {
		return true
	}
	for _, n := range b.spec.Containers {
		if n == name {
			return true
		}
	}
	return false
}

func (b *builder) apply() {
	spec, pod := b.spec, b.pod
	// vault-k8s ignores names that match no container; so do we, with a warning.
	if len(spec.Containers) > 0 {
		names := make(map[string]bool, len(pod.Spec.Containers))
		for i := range pod.Spec.Containers {
			names[pod.Spec.Containers[i].Name] = true
		}
		for _, n := range spec.Containers {
			if !names[n] {
				b.warnings = append(b.warnings, fmt.Sprintf("annotation %s: container %q is not in the pod and is ignored", AnnContainers, n))
			}
		}
	}
	// the containers, then the init containers (indexed, not copied: a Container is large)
	podContainers := [2][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers}
	for _, cs := range podContainers {
		for i := range cs {
			if ourContainers[cs[i].Name] {
				b.fail(AnnInject, "the pod already has a container named %q, which the injector needs", cs[i].Name)
			}
		}
	}
	haveTokenVolume := false
	for i := range pod.Spec.Volumes {
		name := pod.Spec.Volumes[i].Name
		if ourVolumes[name] {
			b.fail(AnnInject, "the pod already has a volume named %q, which the injector needs", name)
		}
		haveTokenVolume = haveTokenVolume || name == spec.TokenVolumeName
	}
	if spec.TokenVolumeName != "" && !haveTokenVolume {
		b.fail(AnnServiceAccountTokenVolume, "the pod has no volume %q", spec.TokenVolumeName)
	}
	var copied []corev1.VolumeMount
	if spec.CopyVolumeMountsFrom != "" {
		var found bool
		for _, cs := range podContainers {
			for i := range cs {
				c := &cs[i]
				if c.Name != spec.CopyVolumeMountsFrom {
					continue
				}
				found = true
				for _, m := range c.VolumeMounts {
					if m.MountPath == serviceAcctK || strings.HasPrefix(m.Name, "kube-api-access-") {
						continue
					}
					copied = append(copied, m)
				}
			}
		}
		if !found {
			b.warnings = append(b.warnings, fmt.Sprintf("annotation %s: the pod has no container %q, no mounts are copied", AnnCopyVolumeMounts, spec.CopyVolumeMountsFrom))
		}
	}
	if spec.RunAsSameUser {
		b.sameUser()
	}
	if len(b.errs) > 0 {
		return
	}

	if spec.ShareProcessNamespace != nil {
		v := *spec.ShareProcessNamespace
		if v && pod.Spec.ShareProcessNamespace != nil && !*pod.Spec.ShareProcessNamespace {
			b.fail(AnnShareProcessNamespace, "the pod sets shareProcessNamespace: false explicitly; refusing to turn it on")
			return
		}
		pod.Spec.ShareProcessNamespace = &v
	}
	b.addVolumes()
	if spec.Env {
		b.applyEnv()
		return
	}

	mountPaths := b.mountPaths()
	agentMounts := b.agentMounts(mountPaths, copied)
	b.checkCommands(agentMounts)
	native := b.native()

	var initC, sidecar *corev1.Container
	switch {
	case spec.PrePopulateOnly:
		c := b.agentContainer(InitContainerName, "init", "", agentMounts)
		initC = &c
	case native:
		ready := ""
		if spec.PrePopulate {
			ready = ReadyFile
		}
		c := b.agentContainer(AgentContainerName, "sidecar", ready, agentMounts)
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		if spec.PrePopulate {
			c.StartupProbe = &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: b.cfg.agentArgv("probe")}},
				PeriodSeconds:    1,
				TimeoutSeconds:   5,
				FailureThreshold: 300,
			}
		}
		b.patchContainer(&c, AnnJSONPatch, spec.JSONPatch)
		initC = &c
	default:
		if spec.PrePopulate {
			c := b.agentContainer(InitContainerName, "init", "", slices.Clone(agentMounts))
			initC = &c
		}
		c := b.agentContainer(AgentContainerName, "sidecar", "", agentMounts)
		b.patchContainer(&c, AnnJSONPatch, spec.JSONPatch)
		sidecar = &c
	}
	if initC != nil && initC.Name == InitContainerName {
		b.patchContainer(initC, AnnInitJSONPatch, spec.InitJSONPatch)
	} else if spec.InitJSONPatch != "" {
		why := fmt.Sprintf("the agent runs as a native sidecar (patch it with %s, or set %s: \"false\")", AnnJSONPatch, ExtNativeSidecar)
		if !native {
			why = "agent-pre-populate is false"
		}
		b.warnings = append(b.warnings, fmt.Sprintf("annotation %s is ignored: the pod gets no %s container to patch, %s", AnnInitJSONPatch, InitContainerName, why))
	}

	// Application containers see the secrets; so do the pod's init containers that run
	// after the agent when it runs first.
	for i := range pod.Spec.Containers {
		if b.selected(pod.Spec.Containers[i].Name) {
			b.mountSecrets(&pod.Spec.Containers[i], mountPaths)
		}
	}
	if initC != nil {
		if spec.InitFirst {
			for i := range pod.Spec.InitContainers {
				b.mountSecrets(&pod.Spec.InitContainers[i], mountPaths)
			}
			pod.Spec.InitContainers = append([]corev1.Container{*initC}, pod.Spec.InitContainers...)
		} else {
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, *initC)
		}
	}
	if sidecar != nil {
		pod.Spec.Containers = append(pod.Spec.Containers, *sidecar)
	}
}

// sameUser resolves agent-run-as-same-user into RunAsUser.
func (b *builder) sameUser() {
	var uid *int64
	if len(b.pod.Spec.Containers) > 0 && b.pod.Spec.Containers[0].SecurityContext != nil {
		uid = b.pod.Spec.Containers[0].SecurityContext.RunAsUser
	}
	if uid == nil && b.pod.Spec.SecurityContext != nil {
		uid = b.pod.Spec.SecurityContext.RunAsUser
	}
	switch {
	case uid == nil:
		b.fail(AnnRunAsSameUser, "the first container (and the pod) sets no securityContext.runAsUser to copy")
	case *uid == 0:
		b.fail(AnnRunAsSameUser, "the first container runs as root (uid 0); the agent will not")
	default:
		v := *uid
		b.spec.RunAsUser = &v
	}
}

func (b *builder) addVolumes() {
	spec, pod := b.spec, b.pod
	vol := func(name string, src corev1.VolumeSource) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: src})
	}
	if !spec.Env {
		secrets := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
		if limit, ok := b.cfg.sizeLimit(); ok {
			secrets.SizeLimit = &limit
		}
		homeLimit := resource.MustParse("1Mi")
		vol(VolumeSecrets, corev1.VolumeSource{EmptyDir: secrets})
		vol(VolumeHome, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &homeLimit}})
	} else {
		binLimit := resource.MustParse("128Mi")
		vol(VolumeAgentBin, corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &binLimit}})
	}
	if spec.TokenVolumeName == "" {
		exp := b.cfg.TokenExpirationSeconds
		if exp == 0 {
			exp = 3600
		}
		vol(VolumeToken, corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: spec.TokenAudience, ExpirationSeconds: &exp, Path: "token"},
		}}}})
	}
	if spec.TLSSecret != "" {
		vol(VolumeTLS, corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: spec.TLSSecret}})
	}
	if spec.ExtraSecret != "" {
		vol(VolumeExtra, corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: spec.ExtraSecret}})
	}
}

// mountPaths lists the distinct mount paths of the secrets volume, the default one first.
func (b *builder) mountPaths() []string {
	paths := []string{b.spec.SecretVolumePath}
	seen := map[string]bool{b.spec.SecretVolumePath: true}
	var extra []string
	for _, s := range b.spec.Secrets {
		if !seen[s.MountPath] {
			seen[s.MountPath] = true
			extra = append(extra, s.MountPath)
		}
	}
	sort.Strings(extra)
	return append(paths, extra...)
}

// appendCredentialMounts appends what any process running the agent needs to log in (at
// most 3 mounts).
func (b *builder) appendCredentialMounts(mounts []corev1.VolumeMount) []corev1.VolumeMount {
	tokenVol := VolumeToken
	if b.spec.TokenVolumeName != "" {
		tokenVol = b.spec.TokenVolumeName
	}
	mounts = append(mounts, corev1.VolumeMount{Name: tokenVol, MountPath: TokenDir, ReadOnly: true})
	if b.spec.TLSSecret != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeTLS, MountPath: TLSPath, ReadOnly: true})
	}
	if b.spec.ExtraSecret != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeExtra, MountPath: ExtraPath, ReadOnly: true})
	}
	return mounts
}

func (b *builder) agentMounts(paths []string, copied []corev1.VolumeMount) []corev1.VolumeMount {
	n := len(paths) + 2 + len(copied) // the secrets, home and token mounts and the copies
	if b.spec.TLSSecret != "" {
		n++
	}
	if b.spec.ExtraSecret != "" {
		n++
	}
	mounts := make([]corev1.VolumeMount, 0, n)
	for _, p := range paths {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeSecrets, MountPath: p})
	}
	mounts = append(mounts, corev1.VolumeMount{Name: VolumeHome, MountPath: HomePath})
	mounts = b.appendCredentialMounts(mounts)
	if len(copied) == 0 {
		return mounts
	}
	taken := map[string]bool{}
	for _, m := range mounts {
		taken[m.MountPath] = true
	}
	for _, m := range copied {
		if taken[m.MountPath] {
			b.warnings = append(b.warnings, fmt.Sprintf("annotation %s: mount %s of volume %s is not copied, the agent uses that path", AnnCopyVolumeMounts, m.MountPath, m.Name))
			continue
		}
		taken[m.MountPath] = true
		mounts = append(mounts, m)
	}
	return mounts
}

func (b *builder) mountSecrets(c *corev1.Container, paths []string) {
	for _, p := range paths {
		conflict := false
		for _, m := range c.VolumeMounts {
			if path.Clean(m.MountPath) == p {
				conflict = true
			}
		}
		if conflict {
			b.fail(AnnSecretVolumePath, "container %q already mounts something at %s", c.Name, p)
			continue
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeSecrets, MountPath: p, ReadOnly: true})
	}
}

func (s *Spec) tokenPath() string {
	if s.TokenPath != "" {
		return s.TokenPath
	}
	return TokenPath
}

func (b *builder) resources() corev1.ResourceRequirements {
	var r corev1.ResourceRequirements
	set := func(list *corev1.ResourceList, name corev1.ResourceName, v string) {
		if v == "" {
			return
		}
		q, err := resource.ParseQuantity(v) // checked by ParseAnnotations and Config.Validate
		if err != nil {
			b.errs = append(b.errs, fmt.Errorf("internal error: resource %s: %w", name, err))
			return
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
	}
	s := b.spec
	set(&r.Requests, corev1.ResourceCPU, s.RequestsCPU)
	set(&r.Requests, corev1.ResourceMemory, s.RequestsMem)
	set(&r.Requests, corev1.ResourceEphemeralStorage, s.RequestsEphemeral)
	set(&r.Limits, corev1.ResourceCPU, s.LimitsCPU)
	set(&r.Limits, corev1.ResourceMemory, s.LimitsMem)
	set(&r.Limits, corev1.ResourceEphemeralStorage, s.LimitsEphemeral)
	return r
}

// securityContext is restrictive by default and honours the pod-level context: without an
// explicit annotation, a pod-level runAsUser/runAsGroup is inherited rather than overridden.
// Each container gets its own.
func (b *builder) securityContext() *corev1.SecurityContext {
	s := b.spec
	if !s.SetSecurityContext {
		return nil
	}
	podSC := b.pod.Spec.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr.To(true),
	}
	switch {
	case s.RunAsUser != nil:
		sc.RunAsUser = ptr.To(*s.RunAsUser)
	case podSC.RunAsUser == nil:
		sc.RunAsUser = ptr.To(b.cfg.RunAsUser)
	}
	switch {
	case s.RunAsGroup != nil:
		sc.RunAsGroup = ptr.To(*s.RunAsGroup)
	case podSC.RunAsGroup == nil:
		sc.RunAsGroup = ptr.To(b.cfg.RunAsGroup)
	}
	effective := sc.RunAsUser
	if effective == nil {
		effective = podSC.RunAsUser
	}
	sc.RunAsNonRoot = ptr.To(effective != nil && *effective != 0)
	if podSC.SeccompProfile == nil {
		sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
	return sc
}

// AgentConfig builds the agent's configuration for a mode (init, sidecar or exec).
func (b *builder) agentConfig(mode, ready string) agentconfig.Config {
	s := b.spec
	c := agentconfig.Config{
		Vault: agentconfig.Vault{
			Address:          s.VaultAddress,
			Namespace:        s.VaultNamespace,
			CACert:           s.CACert,
			CAPath:           s.CAPath,
			ClientCert:       s.ClientCert,
			ClientKey:        s.ClientKey,
			TLSServerName:    s.TLSServerName,
			TLSSkipVerify:    s.TLSSkipVerify,
			ClientMaxRetries: s.ClientMaxRetries,
			ClientTimeout:    s.ClientTimeout,
			ProxyAddress:     s.ProxyAddress,
		},
		Auth: agentconfig.Auth{
			Type:      s.AuthType,
			Path:      s.AuthPath,
			Role:      s.Role,
			TokenPath: s.tokenPath(),
			Config:    s.AuthConfig,
		},
		Mode:                       mode,
		ReadyFile:                  ready,
		StaticSecretRenderInterval: s.StaticSecretRenderInterval,
		LogLevel:                   s.LogLevel,
		LogFormat:                  s.LogFormat,
	}
	// agent-revoke-on-shutdown revokes every agent's token when it is done with it: the
	// sidecar's when it stops, the app's agent's (env mode) when the app ends, and an init
	// agent's when it exits (a sidecar logs in on its own), unless agent-inject-token
	// hands that token to the app
	if mode != "init" || !s.InjectToken {
		c.RevokeOnShutdown = s.RevokeOnShutdown
	}
	if s.InjectToken && mode != "exec" {
		c.TokenSinkPath = path.Join(s.SecretVolumePath, "token")
	}
	if len(s.Secrets) > 0 {
		c.Templates = make([]agentconfig.Template, 0, len(s.Secrets))
	}
	for _, sec := range s.Secrets {
		t := agentconfig.Template{
			Name:              sec.Name,
			SecretPath:        sec.Path,
			Contents:          sec.Template,
			Source:            sec.TemplateFile,
			Perms:             sec.Perms,
			Command:           sec.Command,
			ErrorOnMissingKey: sec.ErrorOnMissingKey,
		}
		if sec.LeftDelim != "{{" || sec.RightDelim != "}}" {
			t.LeftDelim, t.RightDelim = sec.LeftDelim, sec.RightDelim
		}
		if t.Contents == "" && t.Source == "" {
			t.DefaultFormat = s.DefaultTemplate
		}
		if mode == "exec" {
			t.EnvPrefix = sec.EnvPrefix
			t.Command = nil
		} else {
			t.Destination = sec.Destination()
		}
		c.Templates = append(c.Templates, t)
	}
	return c
}

func (b *builder) agentEnv(mode, ready string) []corev1.EnvVar {
	cfg := b.agentConfig(mode, ready)
	if err := cfg.Validate(); err != nil {
		b.errs = append(b.errs, fmt.Errorf("internal error: the agent configuration is invalid: %w", err))
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("internal error: encode the agent configuration: %w", err))
	}
	env := []corev1.EnvVar{{Name: agentconfig.EnvVar, Value: string(raw)}}
	if b.spec.GoMaxProcs != "" && mode != "exec" {
		env = append(env, corev1.EnvVar{Name: "GOMAXPROCS", Value: b.spec.GoMaxProcs})
	}
	if b.spec.ProxyAddress != "" && mode != "exec" {
		env = append(env, corev1.EnvVar{Name: "HTTPS_PROXY", Value: b.spec.ProxyAddress})
	}
	return env
}

// checkCommands warns about commands after render that cannot run in the agent container:
// the vaultkube image holds the agent and nothing else (no shell, no kill), so a command
// must be the agent itself or lie on a volume the agent mounts. Another agent image may
// bring its own tools.
func (b *builder) checkCommands(mounts []corev1.VolumeMount) {
	if b.spec.Image != b.cfg.AgentImage {
		return
	}
	for _, s := range b.spec.Secrets {
		if len(s.Command) == 0 {
			continue
		}
		p := s.Command[0]
		if base := path.Base(p); base == "sh" || base == "bash" || base == "ash" {
			continue // ParseAnnotations warned already
		}
		onVolume := slices.ContainsFunc(mounts, func(m corev1.VolumeMount) bool {
			return strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/")
		})
		if p != b.cfg.AgentBinary && !onVolume {
			b.warnings = append(b.warnings, fmt.Sprintf("annotation %s-%s runs %s, which the agent image does not have (it holds only the agent) and no volume of the agent container provides: the command will fail", AnnCommand, s.RawName, p))
		}
	}
}

// agentContainer builds an agent container with mounts, which become the container's. Each
// container gets its own resources and securityContext, built afresh rather than copied
// (they are equal for all).
func (b *builder) agentContainer(name, mode, ready string, mounts []corev1.VolumeMount) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    b.spec.Image,
		Command:                  b.cfg.agentArgv(),
		Env:                      b.agentEnv(mode, ready),
		Resources:                b.resources(),
		VolumeMounts:             mounts,
		SecurityContext:          b.securityContext(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}
