package injector

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/vaultkube/vaultkube/internal/agentconfig"
)

func TestMutateSkips(t *testing.T) {
	cases := []struct {
		name string
		ns   string
		ann  map[string]string
	}{
		{"kube-system", "kube-system", basic()},
		{"kube-public", "kube-public", basic()},
		{"no annotations", "app", nil},
		{"inject false", "app", basic(AnnInject, "false")},
		{"already injected", "app", basic(AnnStatus, "injected")},
		{"skipped namespace", "other", basic()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := loadPod(t, "web", tc.ann)
			pod.Namespace = tc.ns
			cfg := testConfig()
			cfg.SkipNamespaces = []string{"other"} // the system namespaces stay skipped
			out, warnings, err := Mutate(pod, cfg)
			require.NoError(t, err)
			assert.Same(t, pod, out, "unchanged pods come back as they are")
			assert.Empty(t, warnings)
			ops, err := Patch(pod, out)
			require.NoError(t, err)
			assert.Empty(t, ops)
		})
	}
	t.Run("nil pod", func(t *testing.T) {
		_, _, err := Mutate(nil, testConfig())
		assert.Error(t, err)
	})
}

func TestSidecarKinds(t *testing.T) {
	f := false
	cases := []struct {
		name        string
		native      string
		version     string
		ann         []string
		wantNative  bool
		wantInit    bool
		wantSidecar bool
		wantProbe   bool
	}{
		// issue 18 item 6: every supported Kubernetes release has native sidecars
		{name: "auto, version unknown", native: NativeAuto, wantNative: true, wantProbe: true},
		{name: "auto, version unreadable", native: NativeAuto, version: "not-a-version", wantNative: true, wantProbe: true},
		{name: "auto, 1.28", native: NativeAuto, version: "v1.28.5", wantInit: true, wantSidecar: true},
		{name: "auto, 1.29", native: NativeAuto, version: "v1.29.0", wantNative: true, wantProbe: true},
		{name: "auto, 1.37", native: NativeAuto, version: "v1.37.2+k3s1", wantNative: true, wantProbe: true},
		{name: "forced true", native: NativeTrue, wantNative: true, wantProbe: true},
		{name: "forced false", native: NativeFalse, version: "v1.37.2", wantInit: true, wantSidecar: true},
		{name: "annotation false", native: NativeAuto, version: "v1.37.2", ann: []string{ExtNativeSidecar, "false"}, wantInit: true, wantSidecar: true},
		{name: "annotation true", native: NativeAuto, ann: []string{ExtNativeSidecar, "true"}, wantNative: true, wantProbe: true},
		{name: "classic, no prepopulate", native: NativeFalse, ann: []string{AnnPrePopulate, "false"}, wantSidecar: true},
		{name: "native, no prepopulate", native: NativeTrue, ann: []string{AnnPrePopulate, "false"}, wantNative: true},
		{name: "prepopulate only", native: NativeTrue, ann: []string{AnnPrePopulateOnly, "true"}, wantInit: true},
	}
	_ = f
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.NativeSidecar, cfg.ServerVersion = tc.native, tc.version
			out, _ := mustMutate(t, loadPod(t, "web", basic(tc.ann...)), cfg)
			initC := findContainer(out.Spec.InitContainers, InitContainerName)
			nativeC := findContainer(out.Spec.InitContainers, AgentContainerName)
			sidecar := findContainer(out.Spec.Containers, AgentContainerName)
			assert.Equal(t, tc.wantInit, initC != nil, "init container")
			assert.Equal(t, tc.wantNative, nativeC != nil, "native sidecar")
			assert.Equal(t, tc.wantSidecar, sidecar != nil, "classic sidecar")
			if initC != nil {
				assert.Nil(t, initC.RestartPolicy)
				assert.Equal(t, "init", agentConfigOf(t, initC).Mode)
			}
			if sidecar != nil {
				assert.Equal(t, "sidecar", agentConfigOf(t, sidecar).Mode)
				assert.Empty(t, agentConfigOf(t, sidecar).ReadyFile)
			}
			if nativeC != nil {
				require.NotNil(t, nativeC.RestartPolicy)
				assert.Equal(t, corev1.ContainerRestartPolicyAlways, *nativeC.RestartPolicy)
				ac := agentConfigOf(t, nativeC)
				assert.Equal(t, "sidecar", ac.Mode)
				assert.Equal(t, tc.wantProbe, nativeC.StartupProbe != nil)
				if tc.wantProbe {
					assert.Equal(t, ProbeCommand, nativeC.StartupProbe.Exec.Command)
					assert.Equal(t, ReadyFile, ac.ReadyFile)
				}
			}
			for _, c := range append(append([]corev1.Container{}, out.Spec.InitContainers...), out.Spec.Containers...) {
				if strings.HasPrefix(c.Name, "vault-agent") {
					assert.Equal(t, AgentCommand, c.Command)
					assert.Empty(t, c.Args)
				}
			}
		})
	}
}

func TestInitFirstOrdering(t *testing.T) {
	for _, native := range []string{NativeFalse, NativeTrue} {
		cfg := testConfig()
		cfg.NativeSidecar = native
		agentName := InitContainerName
		if native == NativeTrue {
			agentName = AgentContainerName
		}
		out, _ := mustMutate(t, loadPod(t, "job-no-automount", basic(AnnRole, "migrate")), cfg)
		require.Len(t, out.Spec.InitContainers, 2)
		assert.Equal(t, "wait-db", out.Spec.InitContainers[0].Name)
		assert.Equal(t, agentName, out.Spec.InitContainers[1].Name)
		assert.Empty(t, out.Spec.InitContainers[0].VolumeMounts, "init containers before the agent do not see secrets")

		out, _ = mustMutate(t, loadPod(t, "job-no-automount", basic(AnnInitFirst, "true")), cfg)
		require.Len(t, out.Spec.InitContainers, 2)
		assert.Equal(t, agentName, out.Spec.InitContainers[0].Name)
		assert.Equal(t, "wait-db", out.Spec.InitContainers[1].Name)
		require.Len(t, out.Spec.InitContainers[1].VolumeMounts, 1)
		assert.Equal(t, VolumeSecrets, out.Spec.InitContainers[1].VolumeMounts[0].Name)
	}
}

func twoContainers(t *testing.T, ann map[string]string) *corev1.Pod {
	pod := loadPod(t, "web", ann)
	// a second container without an explicit command (runs its image's ENTRYPOINT)
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
		Name: "metrics", Image: "registry.example.com/exporter:0.9",
		VolumeMounts: []corev1.VolumeMount{{Name: "kube-api-access-x7k2p", MountPath: serviceAcctK, ReadOnly: true}},
	})
	return pod
}

func TestInjectContainers(t *testing.T) {
	out, _ := mustMutate(t, twoContainers(t, basic()), testConfig())
	for _, name := range []string{"web", "metrics"} {
		c := findContainer(out.Spec.Containers, name)
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: VolumeSecrets, MountPath: "/vault/secrets", ReadOnly: true}, name)
	}
	out, _ = mustMutate(t, twoContainers(t, basic(AnnContainers, "metrics")), testConfig())
	assert.Len(t, findContainer(out.Spec.Containers, "web").VolumeMounts, 1, "web keeps only its token mount")
	assert.Len(t, findContainer(out.Spec.Containers, "metrics").VolumeMounts, 2)

	out, warnings, err := Mutate(twoContainers(t, basic(AnnContainers, "web,nginx")), testConfig())
	require.NoError(t, err, "vault-k8s accepts names of absent containers")
	require.Len(t, warnings, 1)
	assert.Contains(t, warnings[0], AnnContainers)
	assert.Contains(t, warnings[0], `container "nginx" is not in the pod`)
	assert.Len(t, findContainer(out.Spec.Containers, "web").VolumeMounts, 2)
}

func TestSecurityContext(t *testing.T) {
	agent := func(t *testing.T, pod *corev1.Pod, cfg Config) *corev1.SecurityContext {
		out, _ := mustMutate(t, pod, cfg)
		return findContainer(out.Spec.Containers, AgentContainerName).SecurityContext
	}
	t.Run("defaults", func(t *testing.T) {
		sc := agent(t, loadPod(t, "web", basic()), testConfig())
		require.NotNil(t, sc)
		assert.Equal(t, int64(100), *sc.RunAsUser)
		assert.Equal(t, int64(1000), *sc.RunAsGroup)
		assert.True(t, *sc.RunAsNonRoot)
		assert.False(t, *sc.AllowPrivilegeEscalation)
		assert.True(t, *sc.ReadOnlyRootFilesystem)
		assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
		assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, sc.SeccompProfile.Type)
	})
	t.Run("pod-level context is inherited", func(t *testing.T) {
		pod := loadPod(t, "job-no-automount", basic())
		cfg := testConfig()
		cfg.NativeSidecar = NativeFalse
		sc := agent(t, pod, cfg)
		assert.Nil(t, sc.RunAsUser, "pod-level runAsUser 2000 applies")
		assert.Nil(t, sc.RunAsGroup, "pod-level runAsGroup 3000 applies")
		assert.True(t, *sc.RunAsNonRoot)
		assert.Nil(t, sc.SeccompProfile, "pod-level seccomp applies")
	})
	t.Run("annotations win over the pod level", func(t *testing.T) {
		sc := agent(t, loadPod(t, "job-no-automount", basic(AnnRunAsUser, "4000", AnnRunAsGroup, "0")), testConfig())
		assert.Equal(t, int64(4000), *sc.RunAsUser)
		assert.Equal(t, int64(0), *sc.RunAsGroup)
	})
	t.Run("run as same user", func(t *testing.T) {
		sc := agent(t, loadPod(t, "job-no-automount", basic(AnnRunAsSameUser, "true")), testConfig())
		assert.Equal(t, int64(2000), *sc.RunAsUser)
	})
	t.Run("run as same user needs a uid", func(t *testing.T) {
		_, _, err := Mutate(loadPod(t, "web", basic(AnnRunAsSameUser, "true")), testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), AnnRunAsSameUser)
	})
	t.Run("run as same user refuses root", func(t *testing.T) {
		pod := loadPod(t, "web", basic(AnnRunAsSameUser, "true"))
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: new(int64)}
		_, _, err := Mutate(pod, testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "root")
	})
	t.Run("root user drops runAsNonRoot", func(t *testing.T) {
		sc := agent(t, loadPod(t, "web", basic(AnnRunAsUser, "0")), testConfig())
		assert.False(t, *sc.RunAsNonRoot)
	})
	t.Run("disabled", func(t *testing.T) {
		assert.Nil(t, agent(t, loadPod(t, "web", basic(AnnSetSecurityContext, "false")), testConfig()))
		cfg := testConfig()
		cfg.SetSecurityContext = false
		assert.Nil(t, agent(t, loadPod(t, "web", basic()), cfg))
		assert.NotNil(t, agent(t, loadPod(t, "web", basic(AnnRunAsUser, "5")), cfg), "a run-as annotation turns it on")
	})
}

func TestPathTraversalDenied(t *testing.T) {
	cases := map[string][]string{
		"file with ..":            {AnnFile + "-db", "../../etc/passwd"},
		"file with inner ..":      {AnnFile + "-db", "a/../../b"},
		"file is a directory":     {AnnFile + "-db", "conf/"},
		"secret named ..":         {AnnSecret + "-..", "secret/data/x"},
		"volume path relative":    {AnnSecretVolumePath, "vault/secrets"},
		"volume path with ..":     {AnnSecretVolumePath, "/vault/../../etc"},
		"per-secret path with ..": {AnnSecretVolumePath + "-db", "/etc/../root"},
		"template file relative":  {AnnTemplateFile + "-db", "../t.ctmpl"},
		"volume path root":        {AnnSecretVolumePath, "/"},
		"file with backslash":     {AnnFile + "-db", `..\..\x`},
	}
	for name, kv := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := Mutate(loadPod(t, "web", basic(kv...)), testConfig())
			require.Error(t, err)
			assert.Contains(t, err.Error(), "annotation "+kv[0])
		})
	}
	t.Run("absolute file names stay inside the volume", func(t *testing.T) {
		out, _ := mustMutate(t, loadPod(t, "web", basic(AnnFile+"-db", "/sub/db.env")), testConfig())
		ac := agentConfigOf(t, findContainer(out.Spec.Containers, AgentContainerName))
		assert.Equal(t, "/vault/secrets/sub/db.env", ac.Templates[1].Destination)
	})
}

func TestTemplates(t *testing.T) {
	cases := []struct {
		name, tmpl, left, right, wantErr string
	}{
		{name: "valid", tmpl: `{{ with secret "kv/data/x" }}{{ .Data.data.k | toUpper }}{{ end }}`},
		{name: "sprig", tmpl: `{{ "x" | sprig_upper }}`},
		{name: "unclosed action", tmpl: `{{ with secret "kv/data/x" }}{{ .Data.data.k }}`, wantErr: "unexpected EOF"},
		{name: "unknown function", tmpl: `{{ secrett "kv/data/x" }}`, wantErr: `function "secrett" not defined`},
		{name: "bad delimiter content", tmpl: `{{ .Data.data.k `, wantErr: "does not parse"},
		{name: "custom delims", tmpl: `[[ with secret "kv/data/x" ]]{{ literal }}[[ .Data.data.k ]][[ end ]]`, left: "[[", right: "]]"},
		{name: "custom delims, error", tmpl: `[[ with secret "kv/data/x" ]]`, left: "[[", right: "]]", wantErr: "unexpected EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ann := basic(AnnTemplate+"-db", tc.tmpl)
			if tc.left != "" {
				ann[AnnLeftDelim+"-db"], ann[AnnRightDelim+"-db"] = tc.left, tc.right
			}
			out, _, err := Mutate(loadPod(t, "web", ann), testConfig())
			if tc.wantErr == "" {
				require.NoError(t, err)
				ac := agentConfigOf(t, findContainer(out.Spec.Containers, AgentContainerName))
				assert.Equal(t, tc.tmpl, ac.Templates[1].Contents)
				assert.Equal(t, tc.left, ac.Templates[1].LeftDelim)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), "annotation "+AnnTemplate+"-db: template does not parse")
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestSecretsParsing(t *testing.T) {
	ann := map[string]string{
		AnnInject:                           "true",
		AnnRole:                             "web",
		AnnSecret + "-DB-Creds":             "database/creds/web",
		AnnSecret + "-empty":                "  ",
		AnnTemplate + "-only-template":      `{{ with secret "kv/data/x" }}{{ .Data.data.k }}{{ end }}`,
		AnnTemplateFile + "-from-file":      "/vault/custom/app.ctmpl",
		AnnPreserveSecretCase + "-DB-Creds": "true",
		AnnErrorOnMissingKey + "-DB-Creds":  "true",
		AnnCommand + "-DB-Creds":            `/bin/kill -HUP 1`,
		AnnAuthConfig + "-role":             "ignored-because-role-is-set",
		AnnAuthConfig + "-token-path":       "/x/token",
		AnnAuthConfig + "-max-retries":      "2",
		AnnStaticSecretRenderInterval:       "90",
		AnnClientTimeout:                    "30",
		AnnClientMaxRetries:                 "0",
	}
	spec, warnings, err := ParseAnnotations(ann, testConfig())
	require.NoError(t, err)
	assert.Empty(t, warnings)
	require.Len(t, spec.Secrets, 3, "the empty secret is skipped; a template alone declares a secret")
	byName := map[string]Secret{}
	for _, s := range spec.Secrets {
		byName[s.Name] = s
	}
	db := byName["DB-Creds"]
	assert.Equal(t, "database/creds/web", db.Path)
	assert.Equal(t, "/vault/secrets/DB-Creds", db.Destination())
	assert.True(t, db.ErrorOnMissingKey)
	assert.Equal(t, []string{"/bin/kill", "-HUP", "1"}, db.Command)
	assert.Contains(t, byName, "only-template")
	assert.Equal(t, "/vault/custom/app.ctmpl", byName["from-file"].TemplateFile)
	assert.Equal(t, "web", spec.Role)
	assert.Equal(t, map[string]string{"role": "web", "max_retries": "2"}, spec.AuthConfig, "dashes become underscores; the role annotation wins")
	assert.Equal(t, "/x/token", spec.TokenPath, "auth-config-token-path chooses the token file")
	assert.Equal(t, "1m30s", spec.StaticSecretRenderInterval, "seconds become a duration the agent reads")
	assert.Equal(t, "30s", spec.ClientTimeout)
	require.NotNil(t, spec.ClientMaxRetries)
	assert.Equal(t, 0, *spec.ClientMaxRetries)

	t.Run("lower-cased by default", func(t *testing.T) {
		spec, _, err := ParseAnnotations(basic(AnnSecret+"-MiXed", "kv/x"), testConfig())
		require.NoError(t, err)
		assert.Equal(t, "mixed", spec.Secrets[0].Name, "keys sort upper-case first")
		spec, _, err = ParseAnnotations(basic(AnnSecret+"-MiXed", "kv/x", AnnPreserveSecretCase, "true"), testConfig())
		require.NoError(t, err)
		assert.Equal(t, "MiXed", spec.Secrets[0].Name)
	})
	t.Run("role from auth-config-role", func(t *testing.T) {
		ann := basic(AnnAuthConfig+"-role", "r2")
		delete(ann, AnnRole)
		spec, _, err := ParseAnnotations(ann, testConfig())
		require.NoError(t, err)
		assert.Equal(t, "r2", spec.Role)
	})
	t.Run("no role", func(t *testing.T) {
		ann := basic()
		delete(ann, AnnRole)
		_, _, err := ParseAnnotations(ann, testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "annotation "+AnnRole+": no Vault role")
	})
	t.Run("no vault address", func(t *testing.T) {
		_, _, err := ParseAnnotations(basic(), DefaultConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--vault-address")
	})
	t.Run("two secrets, one file", func(t *testing.T) {
		_, _, err := ParseAnnotations(basic(AnnFile+"-api", "db"), testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "both render to /vault/secrets/db")
	})
	t.Run("secret named token with inject-token", func(t *testing.T) {
		_, _, err := ParseAnnotations(basic(AnnSecret+"-token", "kv/x", AnnInjectToken, "true"), testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "where the token goes")
	})
	t.Run("request above limit", func(t *testing.T) {
		_, _, err := ParseAnnotations(basic(AnnRequestsMem, "1Gi"), testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "greater than the limit")
	})
	t.Run("all errors are reported", func(t *testing.T) {
		_, _, err := ParseAnnotations(basic(AnnLogLevel, "x", AnnLogFormat, "y"), testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), AnnLogLevel)
		assert.Contains(t, err.Error(), AnnLogFormat)
	})
	t.Run("orphans and shells warn", func(t *testing.T) {
		_, warnings, err := ParseAnnotations(basic(AnnFile+"-nope", "x", AnnCommand+"-db", "sh -c 'kill -HUP 1'"), testConfig())
		require.NoError(t, err)
		require.Len(t, warnings, 2)
		assert.Contains(t, warnings[0], "no shell")
		assert.Contains(t, warnings[1], `refers to secret "nope"`)

		_, warnings, err = ParseAnnotations(basic(AnnCommand+"-db", "/bin/kill -HUP $(pidof web)"), testConfig())
		require.NoError(t, err)
		require.Len(t, warnings, 1)
		assert.Contains(t, warnings[0], `is run without a shell: "$" reaches /bin/kill as an argument`)
	})
}

func TestVaultAgentImageIsReplaced(t *testing.T) {
	for img, vault := range map[string]bool{
		"hashicorp/vault:1.21.1": true,
		"vault:1.4.2":            true,
		"registry.example.com/mirror/vault-enterprise:1": true,
		"hashicorp/vault@sha256:0123":                    true,
		"registry.example.com/vaultkube/vaultkube:1.0":   false,
		"localhost:5000/vaultkube:dev":                   false,
	} {
		t.Run(img, func(t *testing.T) {
			out, warnings := mustMutate(t, loadPod(t, "web", basic(AnnImage, img)), testConfig())
			got := findContainer(out.Spec.Containers, AgentContainerName).Image
			if vault {
				assert.Equal(t, DefaultAgentImage, got)
				require.Len(t, warnings, 1)
				assert.Contains(t, warnings[0], "HashiCorp Vault image")
			} else {
				assert.Equal(t, img, got)
				assert.Empty(t, warnings)
			}
		})
	}
}

func TestTokenVolume(t *testing.T) {
	t.Run("own projected token, also without automount", func(t *testing.T) {
		cfg := testConfig()
		cfg.TokenExpirationSeconds = 7200
		cfg.TokenAudience = "vault"
		out, _ := mustMutate(t, loadPod(t, "job-no-automount", basic()), cfg)
		v := findVolume(out, VolumeToken)
		require.NotNil(t, v)
		sat := v.Projected.Sources[0].ServiceAccountToken
		assert.Equal(t, "vault", sat.Audience)
		assert.Equal(t, int64(7200), *sat.ExpirationSeconds)
		assert.Equal(t, "token", sat.Path)
		agent := findContainer(out.Spec.Containers, AgentContainerName)
		assert.Contains(t, agent.VolumeMounts, corev1.VolumeMount{Name: VolumeToken, MountPath: TokenDir, ReadOnly: true})
		assert.Equal(t, TokenPath, agentConfigOf(t, agent).Auth.TokenPath)
		for _, c := range out.Spec.Containers {
			for _, m := range c.VolumeMounts {
				assert.False(t, m.Name == VolumeToken && c.Name != AgentContainerName, "only the agent sees its token")
			}
		}
	})
	t.Run("annotation audience", func(t *testing.T) {
		out, _ := mustMutate(t, loadPod(t, "web", basic(ExtTokenAudience, "https://vault.example.com")), testConfig())
		assert.Equal(t, "https://vault.example.com", findVolume(out, VolumeToken).Projected.Sources[0].ServiceAccountToken.Audience)
	})
	t.Run("existing volume", func(t *testing.T) {
		out, _ := mustMutate(t, loadPod(t, "web", basic(AnnServiceAccountTokenVolume, "kube-api-access-x7k2p")), testConfig())
		assert.Nil(t, findVolume(out, VolumeToken))
		agent := findContainer(out.Spec.Containers, AgentContainerName)
		assert.Contains(t, agent.VolumeMounts, corev1.VolumeMount{Name: "kube-api-access-x7k2p", MountPath: TokenDir, ReadOnly: true})
		_, _, err := Mutate(loadPod(t, "web", basic(AnnServiceAccountTokenVolume, "missing")), testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), `the pod has no volume "missing"`)
	})
}

func TestTLSAndExtraSecret(t *testing.T) {
	out, _ := mustMutate(t, loadPod(t, "web", basic(
		AnnTLSSecret, "vault-tls", AnnCACert, "/vault/tls/ca.crt", AnnClientCert, "/vault/tls/tls.crt", AnnClientKey, "/vault/tls/tls.key",
		AnnTLSServerName, "vault.internal", AnnTLSSkipVerify, "false", AnnExtraSecret, "extra", AnnCAKey, "/vault/tls",
		AnnProxyAddress, "http://proxy:3128", AnnGoMaxProcs, "2", AnnNamespace, "ns1", AnnLogFormat, "json", AnnLogLevel, "debug",
	)), testConfig())
	assert.Equal(t, "vault-tls", findVolume(out, VolumeTLS).Secret.SecretName)
	assert.Equal(t, "extra", findVolume(out, VolumeExtra).Secret.SecretName)
	for _, name := range []string{AgentContainerName, InitContainerName} {
		c := findContainer(append(out.Spec.Containers, out.Spec.InitContainers...), name)
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: VolumeTLS, MountPath: TLSPath, ReadOnly: true})
		assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: VolumeExtra, MountPath: ExtraPath, ReadOnly: true})
		assert.Contains(t, c.Env, corev1.EnvVar{Name: "GOMAXPROCS", Value: "2"})
		assert.Contains(t, c.Env, corev1.EnvVar{Name: "HTTPS_PROXY", Value: "http://proxy:3128"})
		ac := agentConfigOf(t, c)
		assert.Equal(t, agentconfig.Vault{
			Address: "https://vault.vault.svc:8200", Namespace: "ns1", CACert: "/vault/tls/ca.crt", CAPath: "/vault/tls",
			ClientCert: "/vault/tls/tls.crt", ClientKey: "/vault/tls/tls.key", TLSServerName: "vault.internal", ProxyAddress: "http://proxy:3128",
		}, ac.Vault)
		assert.Equal(t, "json", ac.LogFormat)
		assert.Equal(t, "debug", ac.LogLevel)
	}
	web := findContainer(out.Spec.Containers, "web")
	for _, m := range web.VolumeMounts {
		assert.NotEqual(t, VolumeTLS, m.Name, "the app does not see the TLS secret")
	}
}

func TestInjectTokenAndRevoke(t *testing.T) {
	out, _ := mustMutate(t, loadPod(t, "web", basic(AnnInjectToken, "true", AnnRevokeOnShutdown, "true", AnnSecretVolumePath, "/etc/secrets")), testConfig())
	side := agentConfigOf(t, findContainer(out.Spec.Containers, AgentContainerName))
	assert.Equal(t, "/etc/secrets/token", side.TokenSinkPath)
	assert.True(t, side.RevokeOnShutdown)
	assert.Equal(t, "/etc/secrets/api", side.Templates[0].Destination)
	initc := agentConfigOf(t, findContainer(out.Spec.InitContainers, InitContainerName))
	assert.False(t, initc.RevokeOnShutdown, "the init container's token is handed to the app (agent-inject-token)")

	// env mode: the agent the app runs under revokes its token when the app ends
	out, _ = mustMutate(t, loadPod(t, "web", basic(ExtInjectEnv, "true", AnnRevokeOnShutdown, "true")), testConfig())
	ac := agentConfigOf(t, findContainer(out.Spec.Containers, "web"))
	assert.Equal(t, "exec", ac.Mode)
	assert.True(t, ac.RevokeOnShutdown)
	out, _ = mustMutate(t, loadPod(t, "web", basic(ExtInjectEnv, "true")), testConfig())
	assert.False(t, agentConfigOf(t, findContainer(out.Spec.Containers, "web")).RevokeOnShutdown, "only when asked")
}

func TestPerSecretMountPaths(t *testing.T) {
	out, _ := mustMutate(t, loadPod(t, "web", basic(AnnSecretVolumePath+"-db", "/etc/db")), testConfig())
	web := findContainer(out.Spec.Containers, "web")
	assert.Contains(t, web.VolumeMounts, corev1.VolumeMount{Name: VolumeSecrets, MountPath: "/vault/secrets", ReadOnly: true})
	assert.Contains(t, web.VolumeMounts, corev1.VolumeMount{Name: VolumeSecrets, MountPath: "/etc/db", ReadOnly: true})
	agent := findContainer(out.Spec.Containers, AgentContainerName)
	assert.Contains(t, agent.VolumeMounts, corev1.VolumeMount{Name: VolumeSecrets, MountPath: "/etc/db"})
	ac := agentConfigOf(t, agent)
	assert.Equal(t, "/etc/db/db", ac.Templates[1].Destination)

	pod := loadPod(t, "web", basic())
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "x", MountPath: "/vault/secrets"})
	_, _, err := Mutate(pod, testConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already mounts something at /vault/secrets")
}

func TestEnvMode(t *testing.T) {
	t.Run("wraps the command", func(t *testing.T) {
		out, _ := mustMutate(t, loadPod(t, "web", basic(ExtInjectEnv, "true")), testConfig())
		web := findContainer(out.Spec.Containers, "web")
		assert.Equal(t, []string{"/vault/agent-bin/vaultkube", "agent", "exec", "--", "/usr/bin/web", "--listen", ":8080"}, web.Command)
		assert.Empty(t, web.Args)
		ac := agentConfigOf(t, web)
		assert.Equal(t, "exec", ac.Mode)
		require.Len(t, ac.Templates, 2)
		assert.Equal(t, "API_", ac.Templates[0].EnvPrefix)
		assert.Equal(t, "DB_", ac.Templates[1].EnvPrefix)
		assert.Empty(t, ac.Templates[1].Destination)
		install := out.Spec.InitContainers[len(out.Spec.InitContainers)-1]
		assert.Equal(t, InstallContainerName, install.Name)
		assert.Equal(t, []string{"/vaultkube-agent", "agent", "install", "/vault/agent-bin"}, install.Command)
		assert.Nil(t, findVolume(out, VolumeSecrets), "env mode writes no files")
		assert.Nil(t, findContainer(out.Spec.Containers, AgentContainerName))
		assert.Contains(t, web.VolumeMounts, corev1.VolumeMount{Name: VolumeToken, MountPath: TokenDir, ReadOnly: true})
		assert.Contains(t, web.VolumeMounts, corev1.VolumeMount{Name: VolumeAgentBin, MountPath: AgentBinDir, ReadOnly: true})
	})
	t.Run("denies a container without command", func(t *testing.T) {
		_, _, err := Mutate(twoContainers(t, basic(ExtInjectEnv, "true")), testConfig())
		require.Error(t, err)
		assert.Contains(t, err.Error(), `annotation vaultkube.io/agent-inject-env: container "metrics" has no explicit command`)
		assert.Contains(t, err.Error(), "ENTRYPOINT")
	})
	t.Run("container selection avoids the denial", func(t *testing.T) {
		out, _ := mustMutate(t, twoContainers(t, basic(ExtInjectEnv, "true", AnnContainers, "web")), testConfig())
		assert.Nil(t, findContainer(out.Spec.Containers, "metrics").Command)
	})
	t.Run("warn-only flag", func(t *testing.T) {
		cfg := testConfig()
		cfg.EnvModeWarnOnly = true
		out, warnings, err := Mutate(twoContainers(t, basic(ExtInjectEnv, "true")), cfg)
		require.NoError(t, err)
		require.Len(t, warnings, 1)
		assert.Contains(t, warnings[0], `container "metrics" has no explicit command`)
		assert.LessOrEqual(t, len(warnings[0]), 256)
		assert.Equal(t, "/vault/agent-bin/vaultkube", findContainer(out.Spec.Containers, "web").Command[0])

		pod := twoContainers(t, basic(ExtInjectEnv, "true", AnnContainers, "metrics"))
		out, warnings, err = Mutate(pod, cfg)
		require.NoError(t, err)
		assert.Same(t, pod, out, "nothing to wrap: unchanged")
		assert.Len(t, warnings, 2)
	})
	t.Run("install runs after the existing init containers, which keep their place", func(t *testing.T) {
		pod := loadPod(t, "job-no-automount", basic(ExtInjectEnv, "true"))
		out, _ := mustMutate(t, pod, testConfig())
		require.Len(t, out.Spec.InitContainers, 2)
		assert.Equal(t, "wait-db", out.Spec.InitContainers[0].Name)
		assert.Equal(t, InstallContainerName, out.Spec.InitContainers[1].Name)
		ops, err := Patch(pod, out)
		require.NoError(t, err)
		for _, op := range ops {
			assert.NotEqual(t, "/spec/initContainers/0", op.Path, "the user's init container is not rewritten")
		}
	})
	t.Run("env prefix without env mode warns", func(t *testing.T) {
		_, warnings, err := Mutate(loadPod(t, "web", basic(ExtEnvPrefix+"-db", "X_")), testConfig())
		require.NoError(t, err)
		require.Len(t, warnings, 1)
		assert.Contains(t, warnings[0], "has no effect without vaultkube.io/agent-inject-env")
	})
	t.Run("reinjection unwraps first", func(t *testing.T) {
		first, _ := mustMutate(t, loadPod(t, "web", basic(ExtInjectEnv, "true")), testConfig())
		first.Annotations[AnnStatus] = "update"
		second, _ := mustMutate(t, first, testConfig())
		web := findContainer(second.Spec.Containers, "web")
		assert.Equal(t, []string{"/vault/agent-bin/vaultkube", "agent", "exec", "--", "/usr/bin/web", "--listen", ":8080"}, web.Command)
		assert.Len(t, second.Spec.InitContainers, 1)
	})
}

func TestJSONPatchAnnotations(t *testing.T) {
	out, _ := mustMutate(t, loadPod(t, "web", basic(
		AnnJSONPatch, `[{"op":"replace","path":"/image","value":"mirror.example.com/vaultkube:dev"}]`,
		AnnInitJSONPatch, `[{"op":"add","path":"/env/-","value":{"name":"INIT","value":"1"}}]`,
	)), testConfig())
	assert.Equal(t, "mirror.example.com/vaultkube:dev", findContainer(out.Spec.Containers, AgentContainerName).Image)
	assert.Contains(t, findContainer(out.Spec.InitContainers, InitContainerName).Env, corev1.EnvVar{Name: "INIT", Value: "1"})

	_, _, err := Mutate(loadPod(t, "web", basic(AnnJSONPatch, `[{"op":"remove","path":"/nope"}]`)), testConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "annotation "+AnnJSONPatch+": the patch does not apply")
}

func TestReservedNames(t *testing.T) {
	pod := loadPod(t, "web", basic())
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: VolumeSecrets})
	_, _, err := Mutate(pod, testConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `volume named "vaultkube-secrets"`)
}

func TestCopyVolumeMountsAndShareProcessNamespace(t *testing.T) {
	pod := loadPod(t, "web", basic(AnnCopyVolumeMounts, "web", AnnShareProcessNamespace, "true"))
	pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: "/etc/web"})
	out, _ := mustMutate(t, pod, testConfig())
	agent := findContainer(out.Spec.Containers, AgentContainerName)
	assert.Contains(t, agent.VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: "/etc/web"})
	for _, m := range agent.VolumeMounts {
		assert.NotEqual(t, "kube-api-access-x7k2p", m.Name, "service-account token mounts are not copied")
	}
	assert.True(t, *out.Spec.ShareProcessNamespace)

	pod = loadPod(t, "web", basic(AnnShareProcessNamespace, "true"))
	pod.Spec.ShareProcessNamespace = new(bool)
	_, _, err := Mutate(pod, testConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing")
}

// TestNoSecretValuesInPod checks that what the injector writes into the pod is only
// configuration: Secret objects are referenced by name as volumes, never read into env or
// spec; the agent configuration decodes strictly into agentconfig.Config (which has no field
// for a token or secret value) and each of its strings comes from the annotations, the
// injector configuration or the injector's own paths.
func TestNoSecretValuesInPod(t *testing.T) {
	ann := basic(AnnTLSSecret, "vault-tls", AnnExtraSecret, "extra", AnnInjectToken, "true",
		AnnTemplate+"-db", `{{ with secret "secret/data/db" }}{{ .Data.data.password }}{{ end }}`)
	for _, env := range []string{"false", "true"} {
		ann[ExtInjectEnv] = env
		out, _ := mustMutate(t, loadPod(t, "web", ann), testConfig())
		raw, err := json.Marshal(out)
		require.NoError(t, err)
		assert.NotContains(t, string(raw), "secretKeyRef")
		assert.NotContains(t, string(raw), "VAULT_TOKEN")
		allowed := map[string]bool{}
		for _, v := range ann {
			allowed[v] = true
		}
		for _, c := range append(append([]corev1.Container{}, out.Spec.InitContainers...), out.Spec.Containers...) {
			for _, e := range c.Env {
				if e.Name != agentconfig.EnvVar {
					continue
				}
				assert.Nil(t, e.ValueFrom)
				var generic any
				require.NoError(t, json.Unmarshal([]byte(e.Value), &generic))
				walkStrings(generic, func(s string) {
					ok := allowed[s] || strings.HasPrefix(s, "/") || s == testConfig().VaultAddress ||
						map[string]bool{"kubernetes": true, "auth/kubernetes": true, "web": true, "map": true, "info": true,
							"standard": true, "sidecar": true, "init": true, "exec": true, "db": true, "api": true, "DB_": true, "API_": true}[s]
					assert.True(t, ok, "unexpected string in the agent configuration: %q", s)
				})
			}
		}
	}
}

func walkStrings(v any, fn func(string)) {
	switch v := v.(type) {
	case string:
		fn(v)
	case []any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range v {
			walkStrings(e, fn)
		}
	}
}

func TestAgentBinary(t *testing.T) {
	cfg := testConfig()
	cfg.AgentBinary = "/opt/agent/vaultkube"
	cfg.NativeSidecar = NativeTrue
	out, _ := mustMutate(t, loadPod(t, "web", basic()), cfg)
	agent := findContainer(out.Spec.InitContainers, AgentContainerName)
	assert.Equal(t, []string{"/opt/agent/vaultkube", "agent"}, agent.Command)
	assert.Equal(t, []string{"/opt/agent/vaultkube", "agent", "probe"}, agent.StartupProbe.Exec.Command)
	out, _ = mustMutate(t, loadPod(t, "web", basic(ExtInjectEnv, "true")), cfg)
	install := findContainer(out.Spec.InitContainers, InstallContainerName)
	assert.Equal(t, []string{"/opt/agent/vaultkube", "agent", "install", "/vault/agent-bin"}, install.Command)
	assert.Equal(t, ExecPrefix, findContainer(out.Spec.Containers, "web").Command[:4], "install always writes DIR/vaultkube")
	cfg.AgentBinary = "vaultkube"
	assert.ErrorContains(t, cfg.Validate(), "agent binary")
}

// TestMutateLeavesInputAlone runs many shapes of injection over pods whose slices have
// spare capacity (as decoded pods do) and checks that the input pod is never modified.
func TestMutateLeavesInputAlone(t *testing.T) {
	variants := [][]string{
		nil,
		{AnnInitFirst, "true"},
		{ExtInjectEnv, "true"},
		{ExtInjectEnv, "true", AnnInitFirst, "true"},
		{AnnPrePopulateOnly, "true", AnnSecretVolumePath + "-db", "/etc/db"},
		{AnnCopyVolumeMounts, "migrate", AnnJSONPatch, `[{"op":"add","path":"/env/-","value":{"name":"A","value":"b"}}]`},
		{AnnStatus, "update"},
	}
	for _, fixture := range []string{"web", "job-no-automount"} {
		for _, native := range []string{NativeTrue, NativeFalse} {
			for _, v := range variants {
				pod := loadPod(t, fixture, basic(append([]string{AnnRole, "r"}, v...)...))
				// spare capacity everywhere, so that an append in place would show
				grow := func(cs []corev1.Container) []corev1.Container {
					for i := range cs {
						cs[i].VolumeMounts = append(make([]corev1.VolumeMount, 0, len(cs[i].VolumeMounts)+8), cs[i].VolumeMounts...)
						cs[i].Env = append(make([]corev1.EnvVar, 0, len(cs[i].Env)+8), cs[i].Env...)
					}
					return append(make([]corev1.Container, 0, len(cs)+8), cs...)
				}
				pod.Spec.Containers = grow(pod.Spec.Containers)
				pod.Spec.InitContainers = grow(pod.Spec.InitContainers)
				pod.Spec.Volumes = append(make([]corev1.Volume, 0, len(pod.Spec.Volumes)+8), pod.Spec.Volumes...)
				before := podText(pod)
				cfg := testConfig()
				cfg.NativeSidecar = native
				out, _, err := Mutate(pod, cfg)
				require.NoError(t, err, "%s %s %v", fixture, native, v)
				assert.JSONEq(t, before, podText(pod), "%s %s %v", fixture, native, v)
				// and the output does not change when the input's spare capacity is reused
				snapshot := podText(out)
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "late"})
				for i := range pod.Spec.Containers {
					pod.Spec.Containers[i].VolumeMounts = append(pod.Spec.Containers[i].VolumeMounts, corev1.VolumeMount{Name: "late"})
				}
				assert.JSONEq(t, snapshot, podText(out), "%s %s %v", fixture, native, v)
			}
		}
	}
}

// TestStaticSecretRenderIntervalDefault: the cluster-wide default (flag
// --template-static-secret-render-interval) reaches the agents as a Go duration; the
// annotation overrides it; a bad default is refused.
func TestStaticSecretRenderIntervalDefault(t *testing.T) {
	cfg := testConfig()
	cfg.StaticSecretRenderInterval = "120"
	require.NoError(t, cfg.Validate())
	out, _ := mustMutate(t, loadPod(t, "web", basic()), cfg)
	assert.Equal(t, "2m0s", agentConfigOf(t, findContainer(out.Spec.Containers, AgentContainerName)).StaticSecretRenderInterval)
	out, _ = mustMutate(t, loadPod(t, "web", basic(AnnStaticSecretRenderInterval, "30s")), cfg)
	assert.Equal(t, "30s", agentConfigOf(t, findContainer(out.Spec.Containers, AgentContainerName)).StaticSecretRenderInterval)
	cfg.StaticSecretRenderInterval = "soon"
	assert.ErrorContains(t, cfg.Validate(), "static secret render interval")
}

// TestCommandsTheAgentImageCannotRun: a command after render must be the agent itself or
// lie on a volume the agent mounts, since the vaultkube image holds nothing else; with
// another agent image nothing is assumed.
func TestCommandsTheAgentImageCannotRun(t *testing.T) {
	cfg := testConfig()
	warned := func(ann map[string]string) []string {
		_, warnings, err := Mutate(loadPod(t, "web", ann), cfg)
		require.NoError(t, err)
		return warnings
	}
	w := warned(basic(AnnCommand+"-db", "/bin/kill -HUP 1"))
	require.Len(t, w, 1)
	assert.Contains(t, w[0], "annotation "+AnnCommand+"-db runs /bin/kill, which the agent image does not have")
	assert.Empty(t, warned(basic(AnnCommand+"-db", "/vault/secrets/reload.sh")), "on the secrets volume")
	assert.Empty(t, warned(basic(AnnCommand+"-db", cfg.AgentBinary+" agent probe")), "the agent itself")
	assert.Empty(t, warned(basic(AnnCommand+"-db", "/bin/kill -HUP 1", AnnImage, "registry.example.com/agent-with-tools:1")), "another image")
}

// Issue 18 item 2: the agent's own token is minted for Vault, not for the API server, unless
// the audience is emptied on purpose (with a warning); a plain-http Vault address warns.
func TestTokenAudienceAndPlainHTTP(t *testing.T) {
	t.Run("default audience vault", func(t *testing.T) {
		out, warnings := mustMutate(t, loadPod(t, "web", basic()), testConfig())
		assert.Equal(t, "vault", findVolume(out, VolumeToken).Projected.Sources[0].ServiceAccountToken.Audience)
		assert.Empty(t, warnings)
	})
	t.Run("empty audience warns", func(t *testing.T) {
		out, warnings := mustMutate(t, loadPod(t, "web", basic(ExtTokenAudience, "")), testConfig())
		assert.Empty(t, findVolume(out, VolumeToken).Projected.Sources[0].ServiceAccountToken.Audience)
		require.Len(t, warnings, 1)
		assert.Contains(t, warnings[0], ExtTokenAudience)
		assert.Contains(t, warnings[0], "against the API server")
	})
	t.Run("http address from the annotation", func(t *testing.T) {
		_, warnings := mustMutate(t, loadPod(t, "web", basic(AnnService, "HTTP://vault.vault:8200")), testConfig())
		require.Len(t, warnings, 1)
		assert.Contains(t, warnings[0], "annotation "+AnnService+": Vault address HTTP://vault.vault:8200 is plain http")
	})
	t.Run("http address from the flag", func(t *testing.T) {
		cfg := testConfig()
		cfg.VaultAddress = "http://vault.vault:8200"
		_, warnings := mustMutate(t, loadPod(t, "web", basic()), cfg)
		require.Len(t, warnings, 1)
		assert.Contains(t, warnings[0], "the injector's --vault-address: Vault address http://vault.vault:8200 is plain http")
	})
}

// Issue 18 item 5: env-mode prefixes that let a secret name any variable, permissions beyond
// 0777 and secret-volume paths that are not clean are refused or normalised at admission;
// agent-revoke-on-shutdown revokes the init agent's token too.
func TestEnvPrefixPermsPathsAndInitRevoke(t *testing.T) {
	refused := []struct {
		name, key, value, want string
	}{
		{"empty env prefix", ExtEnvPrefix + "-db", "", "annotation " + ExtEnvPrefix + "-db: must not be empty"},
		{"LD_ prefix", ExtEnvPrefix + "-db", "LD_", "annotation " + ExtEnvPrefix + `-db: "LD_" names variables that take over the process`},
		{"lower-case ld_ prefix", ExtEnvPrefix + "-db", "ld_x", `"ld_x" names variables that take over the process`},
		{"BASH_FUNC_ prefix", ExtEnvPrefix + "-db", "BASH_FUNC_", "take over the process"},
		{"setuid perms", AnnPerms + "-db", "4755", "annotation " + AnnPerms + `-db: "4755": only permission bits up to 0777`},
		{"sticky perms", AnnPerms + "-db", "1777", "setuid, setgid and sticky bits are refused"},
		{"perms above 07777", AnnPerms + "-db", "17777", "only permission bits up to 0777"},
		{"root volume path", AnnSecretVolumePath, "/", "annotation " + AnnSecretVolumePath + `: "/" is the root directory`},
		{"root volume path, doubled slash", AnnSecretVolumePath, "//", `"//" is the root directory`},
		{"root volume path, dot", AnnSecretVolumePath, "/./", "is the root directory"},
		{"per-secret root volume path", AnnSecretVolumePath + "-db", "//.", "is the root directory"},
		{"relative volume path", AnnSecretVolumePath, "vault/secrets", "is not an absolute path"},
		{"volume path with ..", AnnSecretVolumePath, "/vault/../etc", "has a .. element"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Mutate(loadPod(t, "web", basic(ExtInjectEnv, "true", tc.key, tc.value)), testConfig())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("0777 and a prefix that only the agent can judge pass", func(t *testing.T) {
		out, _ := mustMutate(t, loadPod(t, "web", basic(AnnPerms+"-db", "0777", ExtInjectEnv, "true", ExtEnvPrefix+"-db", "L")), testConfig())
		ac := agentConfigOf(t, findContainer(out.Spec.Containers, "web"))
		assert.Equal(t, "L", ac.Templates[1].EnvPrefix)
		assert.Equal(t, "0777", ac.Templates[1].Perms)
	})
	t.Run("secret-volume-path is cleaned", func(t *testing.T) {
		out, _ := mustMutate(t, loadPod(t, "web", basic(AnnSecretVolumePath, "/etc//secrets/./", AnnSecretVolumePath+"-db", "/etc/secrets/")), testConfig())
		web := findContainer(out.Spec.Containers, "web")
		n := 0
		for _, m := range web.VolumeMounts {
			if m.Name == VolumeSecrets {
				n++
				assert.Equal(t, "/etc/secrets", m.MountPath)
			}
		}
		assert.Equal(t, 1, n, "two spellings of one directory are one mount")
		ac := agentConfigOf(t, findContainer(out.Spec.Containers, AgentContainerName))
		assert.Equal(t, "/etc/secrets/api", ac.Templates[0].Destination)
		assert.Equal(t, "/etc/secrets/db", ac.Templates[1].Destination)
	})
	t.Run("the init agent revokes its token as agent-revoke-on-shutdown says", func(t *testing.T) {
		cfg := testConfig()
		cfg.NativeSidecar = NativeFalse
		out, _ := mustMutate(t, loadPod(t, "web", basic(AnnRevokeOnShutdown, "true")), cfg)
		assert.True(t, agentConfigOf(t, findContainer(out.Spec.InitContainers, InitContainerName)).RevokeOnShutdown)
		out, _ = mustMutate(t, loadPod(t, "web", basic(AnnPrePopulateOnly, "true", AnnRevokeOnShutdown, "true")), cfg)
		assert.True(t, agentConfigOf(t, findContainer(out.Spec.InitContainers, InitContainerName)).RevokeOnShutdown)
		out, _ = mustMutate(t, loadPod(t, "web", basic()), cfg)
		assert.False(t, agentConfigOf(t, findContainer(out.Spec.InitContainers, InitContainerName)).RevokeOnShutdown, "off by default, as in vault-k8s")
	})
}
