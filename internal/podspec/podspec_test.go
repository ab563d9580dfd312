package podspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// fullContainer sets fields this package models and many it does not.
func fullContainer() corev1.Container {
	return corev1.Container{
		Name: "web", Image: "web:1", Command: []string{"/web"}, Args: []string{"-v"}, WorkingDir: "/srv",
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "POD", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}}},
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			Claims:   []corev1.ResourceClaim{{Name: "gpu"}},
		},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: "x", MountPropagation: ptr.To(corev1.MountPropagationHostToContainer)}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds: 10, SuccessThreshold: 1},
		StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, FailureThreshold: 30},
		Lifecycle:    &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
		SecurityContext: &corev1.SecurityContext{
			Privileged: ptr.To(false), RunAsUser: ptr.To(int64(1000)),
			Capabilities:   &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}},
			SELinuxOptions: &corev1.SELinuxOptions{Level: "s0:c1"},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePath: "/dev/termination-log", ImagePullPolicy: corev1.PullIfNotPresent, Stdin: true,
	}
}

func fullVolumes() []corev1.Volume {
	return []corev1.Volume{
		{Name: "api", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To(int32(0o644)),
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To(int64(3607)), Path: "token"}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
					Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			}}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("1Mi"))}}},
		{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tls", DefaultMode: ptr.To(int32(0o400)), Optional: ptr.To(true)}}},
	}
}

func roundTrip[T any](t *testing.T, in any) (*T, []byte) {
	t.Helper()
	raw, err := json.Marshal(in)
	require.NoError(t, err)
	var v T
	require.NoError(t, json.Unmarshal(raw, &v))
	return &v, raw
}

// TestRoundTripKeepsEverything: a decoded and re-encoded container or volume is the same
// JSON, modelled fields or not.
func TestRoundTripKeepsEverything(t *testing.T) {
	c, raw := roundTrip[Container](t, fullContainer())
	out, err := json.Marshal(c)
	require.NoError(t, err)
	require.JSONEq(t, string(raw), string(out))

	for _, v := range fullVolumes() {
		got, raw := roundTrip[Volume](t, v)
		out, err := json.Marshal(got)
		require.NoError(t, err)
		require.JSONEq(t, string(raw), string(out), v.Name)
	}
}

// TestChangesKeepTheRest: changing modelled fields keeps the unmodelled ones, including
// those of nested objects.
func TestChangesKeepTheRest(t *testing.T) {
	c, _ := roundTrip[Container](t, fullContainer())
	c.Command = append(c.Command, "--more")
	c.Args = nil
	c.VolumeMounts = append(c.VolumeMounts, VolumeMount{Name: "s", MountPath: "/vault/secrets", ReadOnly: true})
	c.SecurityContext.RunAsUser = ptr.To(int64(2000))
	out, err := json.Marshal(c)
	require.NoError(t, err)
	var got corev1.Container
	require.NoError(t, json.Unmarshal(out, &got))

	want := fullContainer()
	want.Command = []string{"/web", "--more"}
	want.Args = nil
	want.VolumeMounts = append(want.VolumeMounts, corev1.VolumeMount{Name: "s", MountPath: "/vault/secrets", ReadOnly: true})
	want.SecurityContext.RunAsUser = ptr.To(int64(2000))
	require.Equal(t, want, got)
}

// TestBuiltObjectsEncodeLikeCoreV1: what the injector builds from scratch encodes as the
// same object would with k8s.io/api.
func TestBuiltObjectsEncodeLikeCoreV1(t *testing.T) {
	limit := Quantity("64Mi")
	ours := []any{
		Container{Name: "a", Image: "i", Command: []string{"x"}, RestartPolicy: ptr.To(ContainerRestartPolicyAlways),
			Resources:    &ResourceRequirements{Limits: ResourceList{ResourceCPU: "500m"}, Requests: ResourceList{ResourceMemory: "64Mi"}},
			StartupProbe: &Probe{Exec: &ExecAction{Command: []string{"p"}}, PeriodSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 300},
			SecurityContext: &SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &Capabilities{Drop: []string{"ALL"}},
				RunAsNonRoot: ptr.To(true), SeccompProfile: &SeccompProfile{Type: SeccompProfileTypeRuntimeDefault}},
			TerminationMessagePolicy: TerminationMessageFallbackToLogsOnError},
		Volume{Name: "v", EmptyDir: &EmptyDirVolumeSource{Medium: StorageMediumMemory, SizeLimit: &limit}},
		Volume{Name: "t", Projected: &ProjectedVolumeSource{Sources: []VolumeProjection{{ServiceAccountToken: &ServiceAccountTokenProjection{
			Audience: "vault", ExpirationSeconds: ptr.To(int64(3600)), Path: "token"}}}}},
	}
	theirs := []any{
		corev1.Container{Name: "a", Image: "i", Command: []string{"x"}, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
			StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"p"}}}, PeriodSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 300},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError},
		corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("64Mi"))}}},
		corev1.Volume{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: "vault", ExpirationSeconds: ptr.To(int64(3600)), Path: "token"}}}}}},
	}
	for i := range ours {
		a, err := json.Marshal(ours[i])
		require.NoError(t, err)
		b, err := json.Marshal(theirs[i])
		require.NoError(t, err)
		// corev1 writes "resources": {} and "name" on empty objects; compare decoded as corev1
		var x, y any
		switch theirs[i].(type) {
		case corev1.Container:
			var cx, cy corev1.Container
			require.NoError(t, json.Unmarshal(a, &cx))
			require.NoError(t, json.Unmarshal(b, &cy))
			x, y = cx, cy
		default:
			var vx, vy corev1.Volume
			require.NoError(t, json.Unmarshal(a, &vx))
			require.NoError(t, json.Unmarshal(b, &vy))
			x, y = vx, vy
		}
		require.Equal(t, y, x, "item %d: %s vs %s", i, a, b)
	}
}

func TestQuantityAcceptsNumbers(t *testing.T) {
	var r ResourceList
	require.NoError(t, json.Unmarshal([]byte(`{"cpu": 0.5, "memory": "64Mi"}`), &r))
	require.Equal(t, ResourceList{"cpu": "0.5", "memory": "64Mi"}, r)
	require.Error(t, json.Unmarshal([]byte(`{"cpu": true}`), &r))
}

// unmodelledRef is the reference for hasUnmodelled, on the decoded value.
func unmodelledRef(v any, t reflect.Type) bool {
	switch v := v.(type) {
	case []any:
		et := structOf(t)
		if et == nil || t.Kind() != reflect.Slice {
			return false
		}
		for _, e := range v {
			if unmodelledRef(e, et) {
				return true
			}
		}
	case map[string]any:
		if t.Kind() != reflect.Struct {
			return false
		}
		known := modelled(t)
		for k, e := range v {
			f, ok := known[k]
			if !ok {
				return true
			}
			if structOf(f.t) != nil && unmodelledRef(e, f.t) {
				return true
			}
		}
	}
	return false
}

func FuzzHasUnmodelled(f *testing.F) {
	for _, s := range []string{`{}`, `{"name":"a"}`, `{"name":"a","x":1}`, ` { "name" : [1,{"x":"}"}] , "image":"\"" } `,
		`{"na\u006de":1}`, `{"image":{"a":[{}]},"command":null}`, `null`, `{"name":"a","args":["]"]}`, `[1]`, `"s"`,
		`{"securityContext":{"privileged":true}}`, `{"securityContext":{"runAsUser":1}}`, `{"env":[{"name":"a"},{"name":"b","x":2}]}`,
		`{"resources":{"limits":{"nvidia.com/gpu":"1"}}}`, `{"resources":{"claims":[]}}`, `{"startupProbe":{"exec":{"command":["a"],"x":1}}}`} {
		f.Add([]byte(s))
	}
	type plain Container
	ct := reflect.TypeOf(plain{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		got, want := hasUnmodelled(b, ct), unmodelledRef(v, ct)
		// an escaped key counts as unmodelled even when it spells a modelled one: keeping
		// the JSON then is harmless
		if got != want && !(got && bytes.IndexByte(b, '\\') >= 0) {
			t.Fatalf("hasUnmodelled(%s) = %v, want %v", b, got, want)
		}
	})
}

// TestMergeMatchesItemsByName: when an item leaves a list, the others keep their own kept
// JSON, none is given another's.
func TestMergeMatchesItemsByName(t *testing.T) {
	in := `{"name":"c","volumeMounts":[{"name":"a","mountPath":"/a","future":1},{"name":"b","mountPath":"/b","future":2}],"x":true}`
	var c Container
	require.NoError(t, json.Unmarshal([]byte(in), &c))
	c.VolumeMounts = c.VolumeMounts[1:]
	out, err := json.Marshal(c)
	require.NoError(t, err)
	require.JSONEq(t, `{"name":"c","volumeMounts":[{"name":"b","mountPath":"/b","future":2}],"x":true}`, string(out),
		"b moved to index 0, where a was: b keeps its own member, a's does not move to b")
	c.VolumeMounts = nil
	out, err = json.Marshal(c)
	require.NoError(t, err)
	require.JSONEq(t, `{"name":"c","x":true}`, string(out))
}

// zeroish reports whether a decoded JSON value is what encoding/json leaves out (or writes)
// for an unset modelled field.
func zeroish(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case float64:
		return v == 0
	case bool:
		return !v
	case []any:
		return len(v) == 0
	case map[string]any:
		return len(v) == 0
	}
	return false
}

// sameModulo compares a decoded original with its decode-and-encode round trip, typed by t:
// unmodelled members must come back unchanged; modelled ones may differ only where the
// original was unset (zero, null, empty) and comes back unset or left out.
func sameModulo(t *testing.T, path string, orig, got any, typ reflect.Type) {
	t.Helper()
	if st := structOf(typ); st != nil && typ.Kind() == reflect.Slice {
		o, ok1 := orig.([]any)
		g, ok2 := got.([]any)
		if !ok1 || !ok2 || len(o) != len(g) {
			if !(zeroish(orig) && zeroish(got)) {
				t.Fatalf("%s: list %v came back as %v", path, orig, got)
			}
			return
		}
		for i := range o {
			sameModulo(t, fmt.Sprintf("%s[%d]", path, i), o[i], g[i], st)
		}
		return
	}
	if typ.Kind() != reflect.Struct {
		if !reflect.DeepEqual(orig, got) && !(zeroish(orig) && zeroish(got)) {
			t.Fatalf("%s: %v came back as %v", path, orig, got)
		}
		return
	}
	o, ok1 := orig.(map[string]any)
	g, ok2 := got.(map[string]any)
	if !ok1 || !ok2 {
		if !(zeroish(orig) && zeroish(got)) {
			t.Fatalf("%s: object %v came back as %v", path, orig, got)
		}
		return
	}
	known := modelled(typ)
	for k, ov := range o {
		gv, present := g[k]
		f, isKnown := known[k]
		switch {
		case !isKnown:
			if !present || !reflect.DeepEqual(ov, gv) {
				t.Fatalf("%s.%s (not modelled): %v came back as %v (present %v)", path, k, ov, gv, present)
			}
		case !present:
			if !zeroish(ov) {
				t.Fatalf("%s.%s: %v was dropped", path, k, ov)
			}
		default:
			sameModulo(t, path+"."+k, ov, gv, f.t)
		}
	}
	for k, gv := range g {
		if _, ok := o[k]; !ok && !zeroish(gv) {
			t.Fatalf("%s.%s: %v appeared", path, k, gv)
		}
	}
}

// foldedKey reports whether v has a key that differs from a modelled key only in case:
// encoding/json matches keys case-insensitively, the API server does not (and never sends
// such keys), so round trips of those are not comparable.
func foldedKey(v any, typ reflect.Type) bool {
	switch v := v.(type) {
	case []any:
		if st := structOf(typ); st != nil && typ.Kind() == reflect.Slice {
			for _, e := range v {
				if foldedKey(e, st) {
					return true
				}
			}
		}
	case map[string]any:
		if typ.Kind() != reflect.Struct {
			return false
		}
		known := modelled(typ)
		for k, e := range v {
			for name, f := range known {
				if k != name && strings.EqualFold(k, name) {
					return true
				}
				if k == name && structOf(f.t) != nil && foldedKey(e, f.t) {
					return true
				}
			}
		}
	}
	return false
}

// FuzzRoundTrip: a container or volume decoded and encoded again keeps every member it
// does not model, and its modelled members, apart from unset ones.
func FuzzRoundTrip(f *testing.F) {
	c, err := json.Marshal(fullContainer())
	require.NoError(f, err)
	f.Add(c, false)
	for _, v := range fullVolumes() {
		raw, err := json.Marshal(v)
		require.NoError(f, err)
		f.Add(raw, true)
	}
	f.Add([]byte(`{"name":"x","securityContext":{"runAsUser":1,"seLinuxOptions":{"level":"s0"}},"env":[{"name":"A","future":{"x":[1,2]}}]}`), false)
	f.Add([]byte(`{"name":"v","projected":{"sources":[{"serviceAccountToken":{"path":"t","future":true}},{"configMap":{"name":"c"}}]}}`), true)
	type plainC Container
	type plainV Volume
	f.Fuzz(func(t *testing.T, b []byte, volume bool) {
		var orig map[string]any
		if json.Unmarshal(b, &orig) != nil || orig == nil {
			return
		}
		var out []byte
		typ := reflect.TypeOf(plainC{})
		if volume {
			typ = reflect.TypeOf(plainV{})
		}
		if foldedKey(orig, typ) {
			return
		}
		if volume {
			var v Volume
			if json.Unmarshal(b, &v) != nil {
				return
			}
			out, err = json.Marshal(v)
		} else {
			var c Container
			if json.Unmarshal(b, &c) != nil {
				return
			}
			out, err = json.Marshal(c)
		}
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal(out, &got), "%s", out)
		sameModulo(t, "", orig, got, typ)
	})
}

// decodePodSeeds are pods for FuzzDecodePod and TestDecodePod: a full one, and the key
// spellings encoding/json accepts (case, escapes, repeats, null).
func decodePodSeeds(t testing.TB) [][]byte {
	t.Helper()
	full := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Namespace: "app", Annotations: map[string]string{"a": "b"}, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			InitContainers:        []corev1.Container{{Name: "init", Image: "busybox", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			Containers:            []corev1.Container{fullContainer(), {Name: "plain", Image: "x"}},
			Volumes:               fullVolumes(),
			ServiceAccountName:    "web",
			ShareProcessNamespace: ptr.To(true),
			SecurityContext:       &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(1000)), FSGroup: ptr.To(int64(2000))},
			NodeSelector:          map[string]string{"disk": "ssd"},
		},
	}
	b, err := json.Marshal(full)
	require.NoError(t, err)
	return [][]byte{
		b,
		[]byte(`{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","ports":[{"containerPort":80}]},{"name":"b"}]}}`),
		[]byte(`{"SPEC":{"Containers":[{"name":"a","x":1}]},"spec":{"volumes":[{"name":"v","hostPath":{"path":"/"}}]}}`),
		[]byte(`{"spec":{"containers":[{"name":"a","x":1}],"containers":[{"name":"b"}]}}`),
		[]byte(`{"spec":{"containers":[{"name":"a"}],"containers":[{"name":"b","x":1}]}}`),
		[]byte(`{"spec":{"containers":[{"name":"a","x":1}],"containers":null}}`),
		[]byte(`{"spec":{"c\u006fntainers":[{"name":"a","x":1}],"initContainers":[null,{"name":"i","y":[]}]},"spec":null}`),
		[]byte(`{"spec":{"\u212aontainers":[{"name":"a"}],"containers":[{"name":"k","\u212a":1}]}}`),
		[]byte(`{"spec":{"containers":[{"name":"a","env":[{"name":"E","valueFrom":{"x":1},"z":2}]}]}}`),
	}
}

func TestDecodePodMatchesUnmarshal(t *testing.T) {
	for _, b := range decodePodSeeds(t) {
		var want Pod
		require.NoError(t, json.Unmarshal(b, &want), "%s", b)
		got, err := DecodePod(b)
		require.NoError(t, err, "%s", b)
		require.Equal(t, want, got, "%s", b)
	}
	// the full pod keeps the JSON of its unmodelled members, the plain container none
	pod, err := DecodePod(decodePodSeeds(t)[0])
	require.NoError(t, err)
	require.NotEmpty(t, pod.Spec.Containers[0].raw)
	require.Empty(t, pod.Spec.Containers[1].raw)
	_, err = DecodePod([]byte(`{"spec":{"containers":{}}}`))
	require.EqualError(t, err, "spec.containers: a JSON object where a list belongs")
	_, err = DecodePod([]byte(`{"spec":{"containers":[{"name":1}]}}`))
	require.EqualError(t, err, "spec.containers.name: a JSON number where a string belongs")
	_, err = DecodePod([]byte(`{"spec":`))
	require.Error(t, err)
}

// FuzzDecodePod: DecodePod gives what json.Unmarshal into a Pod gives (with the raw JSON
// each Container and Volume keeps), and fails where it fails.
func FuzzDecodePod(f *testing.F) {
	for _, b := range decodePodSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want Pod
		wantErr := json.Unmarshal(b, &want)
		got, err := DecodePod(b)
		if wantErr != nil || err != nil {
			require.Equal(t, wantErr != nil, err != nil, "errors %v and %v for %q", wantErr, err, b)
			return
		}
		require.Equal(t, want, got, "%q", b)
	})
}

// TestMemberNames: DecodePod's list of members for each modelled struct type is that
// type's JSON names, in field order, so that a field added to a type is decoded too.
func TestMemberNames(t *testing.T) {
	seen := map[string]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			if typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Uint8 {
				return // json.RawMessage
			}
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ.Name()] {
			return
		}
		seen[typ.Name()] = true
		var names []string
		for f := range typ.Fields() {
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
			walk(f.Type)
		}
		require.Contains(t, memberNamesByTypeName, typ.Name())
		require.Equal(t, names, memberNamesByTypeName[typ.Name()], "members of %s", typ.Name())
	}
	walk(reflect.TypeFor[Pod]())
	require.Len(t, seen, len(memberNamesByTypeName), "every list names a modelled type")
}

// BenchmarkDecodePod compares DecodePod with json.Unmarshal into a Pod.
func BenchmarkDecodePod(b *testing.B) {
	pod := decodePodSeeds(b)[0]
	b.Run("DecodePod", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pod)))
		for b.Loop() {
			if _, err := DecodePod(pod); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unmarshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pod)))
		for b.Loop() {
			var p Pod
			if err := json.Unmarshal(pod, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestDecodePodMatchesUnmarshalOnRandomPods: DecodePod and json.Unmarshal agree on pods
// shaped like the modelled types but spelled every way encoding/json lets them differ:
// keys in other cases or escaped, repeated keys and lists, null in every place, values of
// the wrong type, members the types do not model. A fuzzer rarely builds such documents
// from bytes; this walk of the types does.
func TestDecodePodMatchesUnmarshalOnRandomPods(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	agreeErr := 0
	for i := range n {
		var buf bytes.Buffer
		randomValue(rng, &buf, reflect.TypeFor[Pod](), 0)
		b := buf.Bytes()
		var want Pod
		wantErr := json.Unmarshal(b, &want)
		got, err := DecodePod(b)
		require.Equal(t, wantErr != nil, err != nil, "doc %d: errors %v and %v for %s", i, wantErr, err, b)
		if err != nil {
			agreeErr++
			continue
		}
		require.Equal(t, want, got, "doc %d: %s", i, b)
	}
	// the documents must exercise both outcomes
	require.Greater(t, agreeErr, n/20)
	require.Less(t, agreeErr, n-n/20)
}

// randomValue writes a JSON value for a field of type typ: mostly a fitting one.
func randomValue(rng *rand.Rand, buf *bytes.Buffer, typ reflect.Type, depth int) {
	switch rng.IntN(40) {
	case 0:
		buf.WriteString("null")
		return
	case 1:
		buf.WriteString([]string{`1`, `"s"`, `true`, `[]`, `{}`, `1.5`, `-0`, `[null]`, `{"x":[1]}`}[rng.IntN(9)])
		return
	}
	if typ == reflect.TypeFor[json.RawMessage]() {
		buf.WriteString([]string{`{"exec":{"command":["a"]}}`, `{ "x" : [ 1 , 2 ] }`, `"s"`, `[]`}[rng.IntN(4)])
		return
	}
	if typ == reflect.TypeFor[Quantity]() {
		buf.WriteString([]string{`"250m"`, `2.5`, `"1Gi"`, `1e3`, `"\u0031"`}[rng.IntN(5)])
		return
	}
	switch typ.Kind() {
	case reflect.Pointer:
		randomValue(rng, buf, typ.Elem(), depth)
	case reflect.String:
		buf.WriteString([]string{`"a"`, `"web"`, `""`, `"caf\u00e9"`, "\"\xff\"", `"\ud800"`, `"x\"y"`, `"/vault/secrets"`}[rng.IntN(8)])
	case reflect.Bool:
		buf.WriteString([]string{`true`, `false`}[rng.IntN(2)])
	case reflect.Int32, reflect.Int64:
		buf.WriteString([]string{`0`, `-1`, `1000`, `2147483648`, `9223372036854775807`, `1e2`, `3.0`}[rng.IntN(7)])
	case reflect.Map:
		buf.WriteByte('{')
		for j := range rng.IntN(4) {
			if j > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(buf, `"%s":`, []string{"a", "b", "A", `\u0061`, "vault.hashicorp.com/role"}[rng.IntN(5)])
			randomValue(rng, buf, typ.Elem(), depth+1)
		}
		buf.WriteByte('}')
	case reflect.Slice:
		buf.WriteByte('[')
		for j := range rng.IntN(4) {
			if j > 0 {
				buf.WriteByte(',')
			}
			randomValue(rng, buf, typ.Elem(), depth+1)
		}
		buf.WriteByte(']')
	case reflect.Struct:
		var fields []reflect.StructField
		for f := range typ.Fields() {
			if f.IsExported() {
				fields = append(fields, f)
			}
		}
		buf.WriteByte('{')
		members := rng.IntN(len(fields) + 3)
		if depth > 6 {
			members = min(members, 1)
		}
		for j := range members {
			if j > 0 {
				buf.WriteString(" , ")
			}
			if rng.IntN(8) == 0 {
				// a member the types do not model
				buf.WriteString([]string{`"ports":[{"containerPort":80}]`, `"x":{"y":null}`, `"NoSuch":1`}[rng.IntN(3)])
				continue
			}
			f := fields[rng.IntN(len(fields))]
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch rng.IntN(10) {
			case 0:
				name = strings.ToUpper(name)
			case 1:
				name = `\u00` + fmt.Sprintf("%x", name[0]) + name[1:]
			case 2:
				name = strings.ToUpper(name[:1]) + name[1:]
			}
			fmt.Fprintf(buf, `"%s":`, name)
			randomValue(rng, buf, f.Type, depth+1)
		}
		buf.WriteByte('}')
	default:
		buf.WriteString("null")
	}
}
