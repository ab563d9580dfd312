package injector

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

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
	names := map[string]bool{}
	for _, c := range pod.Spec.Containers {
		names[c.Name] = true
	}
	// vault-k8s ignores names that match no container; so do we, with a warning.
	for _, n := range spec.Containers {
		if !names[n] {
			b.warnings = append(b.warnings, fmt.Sprintf("annotation %s: container %q is not in the pod and is ignored", AnnContainers, n))
		}
	}
	for _, c := range append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...) {
		if ourContainers[c.Name] {
			b.fail(AnnInject, "the pod already has a container named %q, which the injector needs", c.Name)
		}
	}
	haveVolume := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if ourVolumes[v.Name] {
			b.fail(AnnInject, "the pod already has a volume named %q, which the injector needs", v.Name)
		}
		haveVolume[v.Name] = true
	}
	if spec.TokenVolumeName != "" && !haveVolume[spec.TokenVolumeName] {
		b.fail(AnnServiceAccountTokenVolume, "the pod has no volume %q", spec.TokenVolumeName)
	}
	var copied []corev1.VolumeMount
	if spec.CopyVolumeMountsFrom != "" {
		var found bool
		for _, c := range append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...) {
			if c.Name == spec.CopyVolumeMountsFrom {
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
	res := b.resources()
	sc := b.securityContext()
	native := b.native()

	var initC, sidecar *corev1.Container
	switch {
	case spec.PrePopulateOnly:
		c := b.agentContainer(InitContainerName, "init", "", agentMounts, res, sc)
		initC = &c
	case native:
		ready := ""
		if spec.PrePopulate {
			ready = ReadyFile
		}
		c := b.agentContainer(AgentContainerName, "sidecar", ready, agentMounts, res, sc)
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
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
			c := b.agentContainer(InitContainerName, "init", "", agentMounts, res, sc)
			initC = &c
		}
		c := b.agentContainer(AgentContainerName, "sidecar", "", agentMounts, res, sc)
		b.patchContainer(&c, AnnJSONPatch, spec.JSONPatch)
		sidecar = &c
	}
	if initC != nil && initC.Name == InitContainerName {
		b.patchContainer(initC, AnnInitJSONPatch, spec.InitJSONPatch)
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
	// room for ours at once: a Volume is large, growing the slice step by step copies a lot
	vols := make([]corev1.Volume, len(pod.Spec.Volumes), len(pod.Spec.Volumes)+5)
	copy(vols, pod.Spec.Volumes)
	pod.Spec.Volumes = vols
	mem := corev1.StorageMediumMemory
	if !spec.Env {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: VolumeSecrets, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: mem, SizeLimit: b.cfg.sizeLimit()}}})
		home := resource.MustParse("1Mi")
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: VolumeHome, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: mem, SizeLimit: &home}}})
	} else {
		bin := resource.MustParse("128Mi")
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: VolumeAgentBin, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &bin}}})
	}
	if spec.TokenVolumeName == "" {
		exp := b.cfg.TokenExpirationSeconds
		if exp == 0 {
			exp = 3600
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: VolumeToken, VolumeSource: corev1.VolumeSource{
			Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
				ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: spec.TokenAudience, ExpirationSeconds: &exp, Path: "token"},
			}}}}})
	}
	if spec.TLSSecret != "" {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: VolumeTLS, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: spec.TLSSecret}}})
	}
	if spec.ExtraSecret != "" {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: VolumeExtra, VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: spec.ExtraSecret}}})
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

// credentialMounts are what any process running the agent needs to log in.
func (b *builder) credentialMounts() []corev1.VolumeMount {
	tokenVol := VolumeToken
	if b.spec.TokenVolumeName != "" {
		tokenVol = b.spec.TokenVolumeName
	}
	mounts := []corev1.VolumeMount{{Name: tokenVol, MountPath: TokenDir, ReadOnly: true}}
	if b.spec.TLSSecret != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeTLS, MountPath: TLSPath, ReadOnly: true})
	}
	if b.spec.ExtraSecret != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeExtra, MountPath: ExtraPath, ReadOnly: true})
	}
	return mounts
}

func (b *builder) agentMounts(paths []string, copied []corev1.VolumeMount) []corev1.VolumeMount {
	var mounts []corev1.VolumeMount
	for _, p := range paths {
		mounts = append(mounts, corev1.VolumeMount{Name: VolumeSecrets, MountPath: p})
	}
	mounts = append(mounts, corev1.VolumeMount{Name: VolumeHome, MountPath: HomePath})
	mounts = append(mounts, b.credentialMounts()...)
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
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = mustQuantity(v)
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
func (b *builder) securityContext() *corev1.SecurityContext {
	s := b.spec
	if !s.SetSecurityContext {
		return nil
	}
	podSC := b.pod.Spec.SecurityContext
	if podSC == nil {
		podSC = &corev1.PodSecurityContext{}
	}
	f := false
	sc := &corev1.SecurityContext{
		AllowPrivilegeEscalation: &f,
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr(true),
	}
	uid := s.RunAsUser
	if uid == nil && podSC.RunAsUser == nil {
		uid = ptr(b.cfg.RunAsUser)
	}
	sc.RunAsUser = uid
	gid := s.RunAsGroup
	if gid == nil && podSC.RunAsGroup == nil {
		gid = ptr(b.cfg.RunAsGroup)
	}
	sc.RunAsGroup = gid
	effective := uid
	if effective == nil {
		effective = podSC.RunAsUser
	}
	sc.RunAsNonRoot = ptr(effective != nil && *effective != 0)
	if podSC.SeccompProfile == nil {
		sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
	return sc
}

func ptr[T any](v T) *T { return &v }

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
	if mode == "sidecar" {
		c.RevokeOnShutdown = s.RevokeOnShutdown
	}
	if s.InjectToken && mode != "exec" {
		c.TokenSinkPath = path.Join(s.SecretVolumePath, "token")
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
		b.errs = append(b.errs, fmt.Errorf("internal error: encode agent configuration: %w", err))
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

func (b *builder) agentContainer(name, mode, ready string, mounts []corev1.VolumeMount, res corev1.ResourceRequirements, sc *corev1.SecurityContext) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    b.spec.Image,
		Command:                  b.cfg.agentArgv(),
		Env:                      b.agentEnv(mode, ready),
		Resources:                *res.DeepCopy(),
		VolumeMounts:             append([]corev1.VolumeMount(nil), mounts...),
		SecurityContext:          sc.DeepCopy(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}
