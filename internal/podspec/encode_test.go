package podspec

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"
)

// tricky has every kind of character encoding/json escapes: quotes, backslashes, control
// characters, HTML's <, > and &, U+2028, U+2029 and invalid UTF-8.
const tricky = "a\"b\\c/<x>&y\u2028z\u2029\x00\x01\x1f\x7f\n\r\t\b\f\xff\xc3(\xe2\x80 é世🙂\ufffd"

// allSetContainer sets every modelled field (TestEncodeMatchesMarshal checks that it does).
func allSetContainer() Container {
	probe := func(cmd ...string) *Probe {
		return &Probe{Exec: &ExecAction{Command: cmd}, TimeoutSeconds: math.MaxInt32, PeriodSeconds: -1, FailureThreshold: math.MinInt32}
	}
	return Container{
		Name: tricky, Image: "reg.example/img:1<2>&3", Command: []string{"/bin/agent", tricky, ""}, Args: []string{"-v", "a&b"},
		Env: []EnvVar{
			{Name: "CONFIG", Value: `{"vault":{"address":"https://vault:8200"},"template":"{{ .Data.data.x }} <&>"}`,
				ValueFrom: json.RawMessage(`{"secretKeyRef":{"name":"s","key":"k"}}`)},
			{Name: tricky, Value: tricky, ValueFrom: json.RawMessage(" {\n\t\"fieldRef\" : { \"fieldPath\" : \"a < b \u2028 & \\\" \\\\ \xff\" ,\r\"n\": [ 1 , -2.5e3 , true , null ] } } ")},
		},
		Resources: &ResourceRequirements{
			Limits:   ResourceList{ResourceMemory: "128Mi", ResourceCPU: "500m", "nvidia.com/gpu": "1", "a<b": tricky},
			Requests: ResourceList{ResourceCPU: "250m", ResourceEphemeralStorage: "1Gi"},
		},
		RestartPolicy: ptr.To(ContainerRestartPolicyAlways),
		VolumeMounts: []VolumeMount{{Name: "secrets", ReadOnly: true, RecursiveReadOnly: ptr.To("IfPossible"), MountPath: "/vault/secrets",
			SubPath: "db", MountPropagation: ptr.To("HostToContainer"), SubPathExpr: "$(POD_NAME)"}},
		LivenessProbe:            probe("live"),
		ReadinessProbe:           probe("ready", tricky),
		StartupProbe:             probe("start"),
		Lifecycle:                json.RawMessage(`{ "preStop" : { "exec" : { "command" : [ "sh", "-c", "sleep 5 && kill 1 > /dev/null" ] } } }`),
		TerminationMessagePolicy: TerminationMessageFallbackToLogsOnError,
		SecurityContext: &SecurityContext{
			Capabilities: &Capabilities{Add: []string{"NET_BIND_SERVICE"}, Drop: []string{"ALL"}},
			RunAsUser:    ptr.To(int64(math.MaxInt64)), RunAsGroup: ptr.To(int64(math.MinInt64)),
			RunAsNonRoot: ptr.To(true), ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(true),
			SeccompProfile: &SeccompProfile{Type: "Localhost", LocalhostProfile: ptr.To("profiles/<audit>.json")},
		},
	}
}

// allSetVolume sets every modelled field, though a real volume has one source.
func allSetVolume() Volume {
	return Volume{
		Name:     tricky,
		EmptyDir: &EmptyDirVolumeSource{Medium: StorageMediumMemory, SizeLimit: ptr.To(Quantity("16Mi"))},
		Secret:   &SecretVolumeSource{SecretName: "tls&ca"},
		Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{ServiceAccountToken: &ServiceAccountTokenProjection{
			Audience: "vault", ExpirationSeconds: ptr.To(int64(3600)), Path: "token"}}}},
	}
}

// agentContainer is an agent sidecar as the injector builds it (testdata/golden of the
// injector): its configuration is a JSON string in an environment variable.
func agentContainer() Container {
	config := `{"vault":{"address":"https://vault.vault.svc:8200"},"auth":{"type":"kubernetes","path":"auth/kubernetes","role":"web",` +
		`"tokenPath":"/var/run/secrets/vaultkube/serviceaccount/token"},"templates":[{"name":"api","secretPath":"secret/data/api",` +
		`"defaultFormat":"map","destination":"/vault/secrets/api"},{"name":"db","secretPath":"secret/data/db","contents":` +
		`"{{ with secret \"secret/data/db\" }}postgres://{{ .Data.data.user }}:{{ .Data.data.password }}@db/app{{ end }}",` +
		`"destination":"/vault/secrets/db"}],"mode":"sidecar","readyFile":"/home/vault/ready","logLevel":"info","logFormat":"standard"}`
	return Container{
		Name: "vault-agent", Image: "vaultkube/vaultkube:dev", Command: []string{"/vaultkube-agent", "agent"},
		Env: []EnvVar{{Name: "VAULTKUBE_AGENT_CONFIG", Value: config}},
		Resources: &ResourceRequirements{
			Limits:   ResourceList{ResourceCPU: "500m", ResourceMemory: "128Mi"},
			Requests: ResourceList{ResourceCPU: "250m", ResourceMemory: "64Mi"},
		},
		RestartPolicy: ptr.To(ContainerRestartPolicyAlways),
		VolumeMounts: []VolumeMount{{Name: "vaultkube-secrets", MountPath: "/vault/secrets"}, {Name: "vaultkube-home", MountPath: "/home/vault"},
			{Name: "vaultkube-token", ReadOnly: true, MountPath: "/var/run/secrets/vaultkube/serviceaccount"}},
		StartupProbe: &Probe{Exec: &ExecAction{Command: []string{"/vaultkube-agent", "agent", "probe"}},
			TimeoutSeconds: 5, PeriodSeconds: 1, FailureThreshold: 300},
		TerminationMessagePolicy: TerminationMessageFallbackToLogsOnError,
		SecurityContext: &SecurityContext{
			Capabilities: &Capabilities{Drop: []string{"ALL"}},
			RunAsUser:    ptr.To(int64(100)), RunAsGroup: ptr.To(int64(1000)),
			RunAsNonRoot: ptr.To(true), ReadOnlyRootFilesystem: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false),
			SeccompProfile: &SeccompProfile{Type: SeccompProfileTypeRuntimeDefault},
		},
	}
}

// requireAllSet fails when a field of v, at any depth, is zero or empty: a field added to
// a type must be added to allSetContainer or allSetVolume (and to the encoder).
func requireAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		require.False(t, v.IsNil(), "%s is nil", path)
		requireAllSet(t, path, v.Elem())
	case reflect.Slice:
		require.Positive(t, v.Len(), "%s is empty", path)
		if k := v.Type().Elem().Kind(); k == reflect.Struct || k == reflect.Pointer {
			for i := range v.Len() {
				requireAllSet(t, path, v.Index(i))
			}
		}
	case reflect.Struct:
		for f := range v.Type().Fields() {
			if f.IsExported() {
				requireAllSet(t, path+"."+f.Name, v.FieldByIndex(f.Index))
			}
		}
	default:
		require.False(t, v.IsZero(), "%s is not set", path)
	}
}

// marshalContainer and marshalVolume are the encoding before encode.go: json.Marshal of
// the method-less type, then the kept JSON merged in.
func marshalContainer(c Container) (plainOut, out []byte, err error) {
	type plain Container
	if plainOut, err = json.Marshal(plain(c)); err != nil {
		return nil, nil, err
	}
	out, err = encodeKeeping(plainOut, c.raw, reflect.TypeFor[plain]())
	return plainOut, out, err
}

func marshalVolume(v Volume) (plainOut, out []byte, err error) {
	type plain Volume
	if plainOut, err = json.Marshal(plain(v)); err != nil {
		return nil, nil, err
	}
	out, err = encodeKeeping(plainOut, v.raw, reflect.TypeFor[plain]())
	return plainOut, out, err
}

// requireSameContainer checks that the encoder writes what json.Marshal writes, and that
// MarshalJSON (the encoder, then the kept JSON merged in) is what it was before.
func requireSameContainer(t *testing.T, c Container, msgAndArgs ...any) {
	t.Helper()
	wantPlain, want, wantErr := marshalContainer(c)
	gotPlain, gotErr := encodeContainer(&c)
	got, gotMarshalErr := c.MarshalJSON()
	appended, appendErr := c.AppendJSON([]byte("prefix"))
	if wantErr != nil {
		require.Error(t, appendErr, msgAndArgs...)
		require.Error(t, gotErr, msgAndArgs...)
		require.Equal(t, wantErr.Error(), gotErr.Error(), msgAndArgs...)
		require.Error(t, gotMarshalErr, msgAndArgs...)
		require.Equal(t, wantErr.Error(), gotMarshalErr.Error(), msgAndArgs...)
		return
	}
	require.NoError(t, gotErr, msgAndArgs...)
	require.Equal(t, string(wantPlain), string(gotPlain), msgAndArgs...)
	require.NoError(t, gotMarshalErr, msgAndArgs...)
	require.Equal(t, string(want), string(got), msgAndArgs...)
	require.NoError(t, appendErr, msgAndArgs...)
	require.Equal(t, "prefix"+string(want), string(appended), msgAndArgs...)
}

func requireSameVolume(t *testing.T, v Volume, msgAndArgs ...any) {
	t.Helper()
	wantPlain, want, err := marshalVolume(v)
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, string(wantPlain), string(encodeVolume(&v)), msgAndArgs...)
	got, err := v.MarshalJSON()
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, string(want), string(got), msgAndArgs...)
	appended, err := v.AppendJSON([]byte("prefix"))
	require.NoError(t, err, msgAndArgs...)
	require.Equal(t, "prefix"+string(want), string(appended), msgAndArgs...)
}

func TestEncodeMatchesMarshal(t *testing.T) {
	requireAllSet(t, "Container", reflect.ValueOf(allSetContainer()))
	requireAllSet(t, "Volume", reflect.ValueOf(allSetVolume()))

	manyResources := ResourceList{}
	for _, k := range strings.Fields("z y x w v u t s r q p o n m l k j i h g f e d c b a") {
		manyResources[k] = Quantity(k + "1")
	}
	containers := []struct {
		name string
		c    Container
	}{
		{"every field", allSetContainer()},
		{"agent", agentContainer()},
		{"zero", Container{}},
		{"empty lists and maps", Container{Command: []string{}, Args: []string{}, Env: []EnvVar{}, VolumeMounts: []VolumeMount{},
			Resources: &ResourceRequirements{Limits: ResourceList{}, Requests: ResourceList{}}, Lifecycle: json.RawMessage{},
			SecurityContext: &SecurityContext{Capabilities: &Capabilities{Add: []string{}, Drop: []string{}}}}},
		{"pointers to zero values", Container{RestartPolicy: ptr.To(""), Resources: &ResourceRequirements{},
			LivenessProbe: &Probe{}, ReadinessProbe: &Probe{Exec: &ExecAction{}}, StartupProbe: &Probe{Exec: &ExecAction{Command: []string{}}},
			Env:          []EnvVar{{}, {ValueFrom: json.RawMessage{}}},
			VolumeMounts: []VolumeMount{{}, {RecursiveReadOnly: ptr.To(""), MountPropagation: ptr.To("")}},
			SecurityContext: &SecurityContext{Capabilities: &Capabilities{}, RunAsUser: ptr.To(int64(0)), RunAsGroup: ptr.To(int64(0)),
				RunAsNonRoot: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(false), AllowPrivilegeEscalation: ptr.To(false),
				SeccompProfile: &SeccompProfile{LocalhostProfile: ptr.To("")}}}},
		{"many resources", Container{Name: "r", Resources: &ResourceRequirements{Limits: manyResources, Requests: manyResources}}},
		{"raw values", Container{Name: "raw", Lifecycle: json.RawMessage(" null "),
			Env: []EnvVar{{Name: "s", ValueFrom: json.RawMessage(` "a\"<\\" `)}, {Name: "n", ValueFrom: json.RawMessage("1e3 ")},
				{Name: "l", ValueFrom: json.RawMessage("[ ]")}, {Name: "e", ValueFrom: json.RawMessage(`"\u2028 \"\u003c"`)}}}},
		{"invalid lifecycle", Container{Name: "bad", Lifecycle: json.RawMessage(`{"preStop":`)}},
		{"invalid valueFrom", Container{Name: "bad", Env: []EnvVar{{Name: "a", ValueFrom: json.RawMessage("nope")}}}},
		{"blank valueFrom", Container{Name: "bad", Env: []EnvVar{{Name: "a", ValueFrom: json.RawMessage(" ")}}}},
		{"two values", Container{Name: "bad", Lifecycle: json.RawMessage(`{} {}`)}},
	}
	for _, tc := range containers {
		t.Run(tc.name, func(t *testing.T) {
			requireSameContainer(t, tc.c)
		})
	}

	volumes := []struct {
		name string
		v    Volume
	}{
		{"every field", allSetVolume()},
		{"zero", Volume{}},
		{"zero sources", Volume{Name: "v", EmptyDir: &EmptyDirVolumeSource{}, Secret: &SecretVolumeSource{}, Projected: &ProjectedVolumeSource{}}},
		{"empty sources", Volume{Name: "v", EmptyDir: &EmptyDirVolumeSource{SizeLimit: ptr.To(Quantity(""))},
			Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{}}}},
		{"zero projections", Volume{Name: "v", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{},
			{ServiceAccountToken: &ServiceAccountTokenProjection{}}, {ServiceAccountToken: &ServiceAccountTokenProjection{ExpirationSeconds: ptr.To(int64(0))}}}}}},
	}
	for _, tc := range volumes {
		t.Run("volume "+tc.name, func(t *testing.T) {
			requireSameVolume(t, tc.v)
		})
	}
}

// TestEncodeKeepsUnmodelled: a decoded container or volume with members the types do not
// model still encodes with them (the encoder's output is merged with the kept JSON).
func TestEncodeKeepsUnmodelled(t *testing.T) {
	var c Container
	require.NoError(t, json.Unmarshal([]byte(`{"name":"web","ports":[{"containerPort":80}],"env":[{"name":"A","future":1}]}`), &c))
	require.NotEmpty(t, c.raw)
	out, err := c.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"web","ports":[{"containerPort":80}],"env":[{"name":"A","future":1}]}`, string(out))
	requireSameContainer(t, c)

	var v Volume
	require.NoError(t, json.Unmarshal([]byte(`{"name":"v","hostPath":{"path":"/"}}`), &v))
	out, err = v.MarshalJSON()
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"v","hostPath":{"path":"/"}}`, string(out))
	requireSameVolume(t, v)
}

// TestEncodeMatchesMarshalOnRandomPods: every container, init container and volume of
// random pods (see randomValue) encodes as json.Marshal encodes it. A walk from Pod
// rarely gets as far as a container; the pods in between hold one random container or
// volume each.
func TestEncodeMatchesMarshalOnRandomPods(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 30000
	if testing.Short() {
		n = 3000
	}
	decoded, containers, volumes := 0, 0, 0
	for i := range n {
		var buf bytes.Buffer
		switch i % 3 {
		case 0:
			randomValue(rng, &buf, reflect.TypeFor[Pod](), 0)
		case 1:
			buf.WriteString([]string{`{"spec":{"containers":[`, `{"spec":{"initContainers":[`}[rng.IntN(2)])
			randomValue(rng, &buf, reflect.TypeFor[Container](), 3)
			buf.WriteString(`]}}`)
		case 2:
			buf.WriteString(`{"spec":{"volumes":[`)
			randomValue(rng, &buf, reflect.TypeFor[Volume](), 3)
			buf.WriteString(`]}}`)
		}
		pod, err := DecodePod(buf.Bytes())
		if err != nil {
			continue
		}
		decoded++
		for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
			requireSameContainer(t, c, "doc %d: %s", i, buf.Bytes())
			containers++
		}
		for _, v := range pod.Spec.Volumes {
			requireSameVolume(t, v, "doc %d: %s", i, buf.Bytes())
			volumes++
		}
	}
	t.Logf("%d of %d pods decoded, with %d containers and %d volumes", decoded, n, containers, volumes)
	// the walk must reach enough of each
	require.Greater(t, decoded, n/4)
	require.Greater(t, containers, n/10)
	require.Greater(t, volumes, n/10)
}

// FuzzEncodeContainer: a container or volume decoded from any JSON, with s in a few of
// its strings (decoding leaves no invalid UTF-8; s may have it), encodes as json.Marshal
// encodes it.
func FuzzEncodeContainer(f *testing.F) {
	for _, c := range []Container{allSetContainer(), agentContainer()} {
		type plain Container
		b, err := json.Marshal(plain(c))
		require.NoError(f, err)
		f.Add(b, false, "")
	}
	type plainV Volume
	b, err := json.Marshal(plainV(allSetVolume()))
	require.NoError(f, err)
	f.Add(b, true, tricky)
	for _, s := range []string{
		`{"name":"a","lifecycle":{ "x" : "<\u2028>" },"env":[{"name":"E","valueFrom": [ 1, "\\" , {} ] ,"x":1}],"ports":[]}`,
		`{"name":"a","resources":{"limits":{"b":"1","a":2.5e3,"c":null}},"securityContext":{"runAsUser":-1,"seccompProfile":{}}}`,
		`{"name":"v","projected":{"sources":[{},{"serviceAccountToken":{"path":"t"}}]},"emptyDir":{"sizeLimit":1}}`,
		`{"name":"v","projected":{"sources":null}}`,
	} {
		f.Add([]byte(s), strings.HasPrefix(s, `{"name":"v"`), "a\x00<\xff")
	}
	f.Fuzz(func(t *testing.T, b []byte, volume bool, s string) {
		if volume {
			var v Volume
			if json.Unmarshal(b, &v) != nil {
				return
			}
			if s != "" {
				v.Name += s
				if v.Secret != nil {
					v.Secret.SecretName = s
				}
			}
			requireSameVolume(t, v, "%q", b)
			return
		}
		var c Container
		if json.Unmarshal(b, &c) != nil {
			return
		}
		if s != "" {
			c.Image = s
			c.Args = append(c.Args, s)
			e := EnvVar{Name: s, Value: s}
			if json.Valid([]byte(s)) { // else both fail (TestEncodeMatchesMarshal, FuzzAppendRaw)
				e.ValueFrom = json.RawMessage(s)
			}
			c.Env = append(c.Env, e)
			if c.Resources != nil {
				c.Resources.Limits = ResourceList{s: Quantity(s), "cpu": "1"}
			}
		}
		requireSameContainer(t, c, "%q, %q", b, s)
	})
}

// FuzzAppendRaw: json.RawMessage values are written as encoding/json writes them, and
// fail where it fails.
func FuzzAppendRaw(f *testing.F) {
	for _, s := range []string{`{}`, ` { "a" : [ 1 , "<\u2028>" ] } `, "\"\xe2\x80\xa9 \\\" \\\\\" ", "\"\xff\"", `{`, ` `, `1 2`, `"a`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return // omitted (omitempty)
		}
		want, wantErr := json.Marshal(json.RawMessage(b))
		got, err := appendRaw([]byte("x"), b)
		if wantErr != nil {
			require.Error(t, err, "%q", b)
			require.Equal(t, wantErr.Error(), err.Error(), "%q", b)
			return
		}
		require.NoError(t, err, "%q", b)
		require.Equal(t, string(want), string(got[1:]), "%q", b)
	})
}

// installContainer is the init container of env mode as the injector builds it: no long
// strings.
func installContainer() Container {
	c := agentContainer()
	c.Name, c.Command, c.Env, c.RestartPolicy, c.StartupProbe = "vaultkube-install",
		[]string{"/vaultkube-agent", "agent", "install", "/vault/agent-bin"}, nil, nil, nil
	c.VolumeMounts = []VolumeMount{{Name: "vaultkube-agent-bin", MountPath: "/vault/agent-bin"}}
	return c
}

// BenchmarkEncodeContainer compares MarshalJSON (the encoder) with what it did before,
// json.Marshal of the method-less type, on containers and a volume the injector adds.
// Both allocate the result; the agent's configuration, a long string with many quotes to
// escape, costs both alike.
func BenchmarkEncodeContainer(b *testing.B) {
	type plainC Container
	type plainV Volume
	agent, install := agentContainer(), installContainer()
	token := Volume{Name: "vaultkube-token", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{
		ServiceAccountToken: &ServiceAccountTokenProjection{ExpirationSeconds: ptr.To(int64(3600)), Path: "token"}}}}}
	for _, tc := range []struct {
		name          string
		encode, plain func() ([]byte, error)
	}{
		{"agent", agent.MarshalJSON, func() ([]byte, error) { return json.Marshal(plainC(agent)) }},
		{"install", install.MarshalJSON, func() ([]byte, error) { return json.Marshal(plainC(install)) }},
		{"volume", token.MarshalJSON, func() ([]byte, error) { return json.Marshal(plainV(token)) }},
	} {
		for _, run := range []struct {
			name string
			f    func() ([]byte, error)
		}{{"MarshalJSON", tc.encode}, {"json.Marshal", tc.plain}} {
			b.Run(tc.name+"/"+run.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := run.f(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
