package injector

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/vaultkube/vaultkube/internal/podspec"

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
	pod      *podspec.Pod
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
	for _, c := range append(append([]podspec.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...) {
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
	var copied []podspec.VolumeMount
	if spec.CopyVolumeMountsFrom != "" {
		var found bool
		for _, c := range append(append([]podspec.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...) {
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
	b.checkCommands(agentMounts)
	res := b.resources()
	sc := b.securityContext()
	native := b.native()

	var initC, sidecar *podspec.Container
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
		always := podspec.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
		if spec.PrePopulate {
			c.StartupProbe = &podspec.Probe{
				Exec:             &podspec.ExecAction{Command: b.cfg.agentArgv("probe")},
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
			pod.Spec.InitContainers = append([]podspec.Container{*initC}, pod.Spec.InitContainers...)
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
	vols := make([]podspec.Volume, len(pod.Spec.Volumes), len(pod.Spec.Volumes)+5)
	copy(vols, pod.Spec.Volumes)
	pod.Spec.Volumes = vols
	mem := podspec.StorageMediumMemory
	if !spec.Env {
		pod.Spec.Volumes = append(pod.Spec.Volumes, podspec.Volume{Name: VolumeSecrets,
			EmptyDir: &podspec.EmptyDirVolumeSource{Medium: mem, SizeLimit: b.cfg.sizeLimit()}})
		pod.Spec.Volumes = append(pod.Spec.Volumes, podspec.Volume{Name: VolumeHome,
			EmptyDir: &podspec.EmptyDirVolumeSource{Medium: mem, SizeLimit: ptr(podspec.Quantity("1Mi"))}})
	} else {
		pod.Spec.Volumes = append(pod.Spec.Volumes, podspec.Volume{Name: VolumeAgentBin,
			EmptyDir: &podspec.EmptyDirVolumeSource{SizeLimit: ptr(podspec.Quantity("128Mi"))}})
	}
	if spec.TokenVolumeName == "" {
		exp := b.cfg.TokenExpirationSeconds
		if exp == 0 {
			exp = 3600
		}
		pod.Spec.Volumes = append(pod.Spec.Volumes, podspec.Volume{Name: VolumeToken,
			Projected: &podspec.ProjectedVolumeSource{Sources: []podspec.VolumeProjection{{
				ServiceAccountToken: &podspec.ServiceAccountTokenProjection{Audience: spec.TokenAudience, ExpirationSeconds: &exp, Path: "token"},
			}}}})
	}
	if spec.TLSSecret != "" {
		pod.Spec.Volumes = append(pod.Spec.Volumes, podspec.Volume{Name: VolumeTLS,
			Secret: &podspec.SecretVolumeSource{SecretName: spec.TLSSecret}})
	}
	if spec.ExtraSecret != "" {
		pod.Spec.Volumes = append(pod.Spec.Volumes, podspec.Volume{Name: VolumeExtra,
			Secret: &podspec.SecretVolumeSource{SecretName: spec.ExtraSecret}})
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
func (b *builder) credentialMounts() []podspec.VolumeMount {
	tokenVol := VolumeToken
	if b.spec.TokenVolumeName != "" {
		tokenVol = b.spec.TokenVolumeName
	}
	mounts := []podspec.VolumeMount{{Name: tokenVol, MountPath: TokenDir, ReadOnly: true}}
	if b.spec.TLSSecret != "" {
		mounts = append(mounts, podspec.VolumeMount{Name: VolumeTLS, MountPath: TLSPath, ReadOnly: true})
	}
	if b.spec.ExtraSecret != "" {
		mounts = append(mounts, podspec.VolumeMount{Name: VolumeExtra, MountPath: ExtraPath, ReadOnly: true})
	}
	return mounts
}

func (b *builder) agentMounts(paths []string, copied []podspec.VolumeMount) []podspec.VolumeMount {
	var mounts []podspec.VolumeMount
	for _, p := range paths {
		mounts = append(mounts, podspec.VolumeMount{Name: VolumeSecrets, MountPath: p})
	}
	mounts = append(mounts, podspec.VolumeMount{Name: VolumeHome, MountPath: HomePath})
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

func (b *builder) mountSecrets(c *podspec.Container, paths []string) {
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
		c.VolumeMounts = append(c.VolumeMounts, podspec.VolumeMount{Name: VolumeSecrets, MountPath: p, ReadOnly: true})
	}
}

func (s *Spec) tokenPath() string {
	if s.TokenPath != "" {
		return s.TokenPath
	}
	return TokenPath
}

func (b *builder) resources() *podspec.ResourceRequirements {
	r := &podspec.ResourceRequirements{}
	set := func(list *podspec.ResourceList, name, v string) {
		if v == "" {
			return
		}
		if *list == nil {
			*list = podspec.ResourceList{}
		}
		(*list)[name] = podspec.Quantity(v)
	}
	s := b.spec
	set(&r.Requests, podspec.ResourceCPU, s.RequestsCPU)
	set(&r.Requests, podspec.ResourceMemory, s.RequestsMem)
	set(&r.Requests, podspec.ResourceEphemeralStorage, s.RequestsEphemeral)
	set(&r.Limits, podspec.ResourceCPU, s.LimitsCPU)
	set(&r.Limits, podspec.ResourceMemory, s.LimitsMem)
	set(&r.Limits, podspec.ResourceEphemeralStorage, s.LimitsEphemeral)
	return r
}

// securityContext is restrictive by default and honours the pod-level context: without an
// explicit annotation, a pod-level runAsUser/runAsGroup is inherited rather than overridden.
func (b *builder) securityContext() *podspec.SecurityContext {
	s := b.spec
	if !s.SetSecurityContext {
		return nil
	}
	podSC := b.pod.Spec.SecurityContext
	if podSC == nil {
		podSC = &podspec.PodSecurityContext{}
	}
	f := false
	sc := &podspec.SecurityContext{
		AllowPrivilegeEscalation: &f,
		Capabilities:             &podspec.Capabilities{Drop: []string{"ALL"}},
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
		sc.SeccompProfile = &podspec.SeccompProfile{Type: podspec.SeccompProfileTypeRuntimeDefault}
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
	// an init container's token lives on in the sidecar's place; the sidecar's and the
	// one an app runs under (env mode) end with their container
	if mode == "sidecar" || mode == "exec" {
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

func (b *builder) agentEnv(mode, ready string) []podspec.EnvVar {
	cfg := b.agentConfig(mode, ready)
	if err := cfg.Validate(); err != nil {
		b.errs = append(b.errs, fmt.Errorf("internal error: the agent configuration is invalid: %w", err))
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		b.errs = append(b.errs, fmt.Errorf("internal error: encode agent configuration: %w", err))
	}
	env := []podspec.EnvVar{{Name: agentconfig.EnvVar, Value: string(raw)}}
	if b.spec.GoMaxProcs != "" && mode != "exec" {
		env = append(env, podspec.EnvVar{Name: "GOMAXPROCS", Value: b.spec.GoMaxProcs})
	}
	if b.spec.ProxyAddress != "" && mode != "exec" {
		env = append(env, podspec.EnvVar{Name: "HTTPS_PROXY", Value: b.spec.ProxyAddress})
	}
	return env
}

// checkCommands warns about commands after render that cannot run in the agent container:
// the vaultkube image holds the agent and nothing else (no shell, no kill), so a command
// must be the agent itself or lie on a volume the agent mounts. Another agent image may
// bring its own tools.
func (b *builder) checkCommands(mounts []podspec.VolumeMount) {
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
		onVolume := slices.ContainsFunc(mounts, func(m podspec.VolumeMount) bool {
			return strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/")
		})
		if p != b.cfg.AgentBinary && !onVolume {
			b.warnings = append(b.warnings, fmt.Sprintf("annotation %s-%s runs %s, which the agent image does not have (it holds only the agent) and no volume of the agent container provides: the command will fail", AnnCommand, s.RawName, p))
		}
	}
}

func (b *builder) agentContainer(name, mode, ready string, mounts []podspec.VolumeMount, res *podspec.ResourceRequirements, sc *podspec.SecurityContext) podspec.Container {
	return podspec.Container{
		Name:                     name,
		Image:                    b.spec.Image,
		Command:                  b.cfg.agentArgv(),
		Env:                      b.agentEnv(mode, ready),
		Resources:                res.DeepCopy(),
		VolumeMounts:             append([]podspec.VolumeMount(nil), mounts...),
		SecurityContext:          sc.DeepCopy(),
		TerminationMessagePolicy: podspec.TerminationMessageFallbackToLogsOnError,
	}
}
