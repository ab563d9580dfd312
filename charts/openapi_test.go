package charts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"
)

// kubernetesVersion is the release whose OpenAPI spec (api/openapi-spec/v3 of the
// k8s.io/kubernetes module) every rendered document must satisfy: the one hack/lib.sh builds
// and whose staging modules go.mod requires (TestOpenAPIVersion keeps the three equal).
const kubernetesVersion = "v1.37.2"

// notInKubernetes lists the kinds the chart renders that the Kubernetes spec does not define,
// with the reason. Their metadata is still checked against ObjectMeta; any other kind missing
// from the spec fails, and so does an entry here that no golden file uses any more.
var notInKubernetes = map[string]string{
	"cert-manager.io/v1 Certificate": "cert-manager CRD, rendered for injector.tls.mode=certManager (serving certificate of the webhook)",
	"cert-manager.io/v1 Issuer":      "cert-manager CRD, rendered for injector.tls.mode=certManager without an issuerRef (self-signed CA chain)",
}

// errKindNotInSpec: the spec has no schema for a document's apiVersion and kind.
var errKindNotInSpec = errors.New("kind not in the Kubernetes OpenAPI spec")

// TestRenderedChartMatchesOpenAPI validates every document of every golden file (the helm
// template output of each documented combination, kept equal to fresh output by
// TestLintAndTemplate) against the Kubernetes OpenAPI v3 schema of its apiVersion and kind:
// types, formats (base64 bytes, date-time), oneOf (int-or-string, quantities), required
// fields and enums (where the spec has any: the v1.37 built-in schemas name their values in
// descriptions only) through kube-openapi's validator, and unknown fields, which that
// validator lets through because the Kubernetes schemas do not say
// additionalProperties: false, through unknownFields.
func TestRenderedChartMatchesOpenAPI(t *testing.T) {
	api := kubernetesOpenAPI(t)
	used := map[string]bool{}
	for _, tc := range combos {
		t.Run(tc.name, func(t *testing.T) {
			golden := filepath.Join(chartDir, "testdata", tc.name+".yaml")
			docs := renderedDocs(t, golden)
			require.NotEmpty(t, docs, "%s has no documents", golden)
			for i, d := range docs {
				id := fmt.Sprintf("%s document %d (%s) %s %s %s", golden, i+1, d.source, d.apiVersion(), d.kind(), d.name())
				problems, err := api.validate(d.obj)
				if errors.Is(err, errKindNotInSpec) {
					gvk := d.apiVersion() + " " + d.kind()
					if _, ok := notInKubernetes[gvk]; !ok {
						t.Errorf("%s: %v: %s defines no %s; add it to notInKubernetes with the reason if that is intended", id, err, kubernetesVersion, gvk)
						continue
					}
					used[gvk] = true
					problems, err = api.validateAt(d.obj["metadata"], "v1", "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "metadata")
				}
				require.NoError(t, err, id)
				for _, p := range problems {
					t.Errorf("%s: %s", id, p)
				}
			}
		})
	}
	for gvk, reason := range notInKubernetes {
		assert.True(t, used[gvk], "notInKubernetes has %s (%s) but no golden file renders it: remove the entry", gvk, reason)
	}
}

// TestOpenAPIRejects breaks a real rendered Deployment in ways a cluster would refuse and
// checks that each is reported at its path; the unbroken one passes.
func TestOpenAPIRejects(t *testing.T) {
	api := kubernetesOpenAPI(t)
	var deployment map[string]any
	for _, d := range renderedDocs(t, filepath.Join(chartDir, "testdata", "defaults.yaml")) {
		if d.kind() == "Deployment" {
			deployment = d.obj
		}
	}
	require.NotNil(t, deployment, "no Deployment in the defaults golden file")
	problems, err := api.validate(deployment)
	require.NoError(t, err)
	require.Empty(t, problems, "the rendered Deployment itself must pass")

	podSpec := func(o map[string]any) map[string]any {
		return o["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	}
	container := func(o map[string]any) map[string]any {
		return podSpec(o)["containers"].([]any)[0].(map[string]any)
	}
	rollingUpdate := func(o map[string]any, surge any) {
		o["spec"].(map[string]any)["strategy"] = map[string]any{
			"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxSurge": surge, "maxUnavailable": 0},
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(o map[string]any)
		want   []string // one problem per entry, each containing the text
	}{
		{"unknown field in a container", func(o map[string]any) { container(o)["imagePullSecrets"] = []any{"x"} },
			[]string{"spec.template.spec.containers[0].imagePullSecrets is not a field of io.k8s.api.core.v1.Container"}},
		{"unknown top-level field", func(o map[string]any) { o["specs"] = map[string]any{} },
			[]string{"specs is not a field of io.k8s.api.apps.v1.Deployment"}},
		{"string for replicas", func(o map[string]any) { o["spec"].(map[string]any)["replicas"] = "two" },
			[]string{"spec.replicas in body must be of type integer"}},
		{"container without name", func(o map[string]any) { delete(container(o), "name") },
			[]string{"spec.template.spec.containers[0].name in body is required"}},
		{"number as a label value", func(o map[string]any) { o["metadata"].(map[string]any)["labels"].(map[string]any)["tier"] = 1 },
			[]string{"metadata.labels.tier in body must be of type string"}},
		{"boolean for an int-or-string", func(o map[string]any) { rollingUpdate(o, true) },
			[]string{`"spec.strategy.rollingUpdate.maxSurge" must validate one and only one schema (oneOf). Found none valid`,
				"spec.strategy.rollingUpdate.maxSurge in body must be of type integer"}},
		{"any key in a map, no unknown field beside one", func(o map[string]any) {
			podSpec(o)["nodeSelector"] = map[string]any{"disk": "ssd"}
			container(o)["resources"] = map[string]any{"limits": map[string]any{"memory": "64Mi"}, "limit": map[string]any{}}
		}, []string{"spec.template.spec.containers[0].resources.limit is not a field of io.k8s.api.core.v1.ResourceRequirements"}},
		// accepted: both forms of an int-or-string, a number as a quantity, any map key
		{"int-or-string as an integer", func(o map[string]any) { rollingUpdate(o, 1) }, nil},
		{"int-or-string as a string", func(o map[string]any) { rollingUpdate(o, "25%") }, nil},
		{"quantity as a number", func(o map[string]any) {
			container(o)["resources"] = map[string]any{"requests": map[string]any{"cpu": 0.5, "memory": "64Mi"}}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := deepCopy(t, deployment)
			tc.mutate(obj)
			problems, err := api.validate(obj)
			require.NoError(t, err)
			require.Len(t, problems, len(tc.want), "%q", problems)
			for i, want := range tc.want {
				assert.Contains(t, problems[i], want)
			}
		})
	}

	t.Run("bad base64 in a caBundle", func(t *testing.T) {
		var webhook map[string]any
		for _, d := range renderedDocs(t, filepath.Join(chartDir, "testdata", "tls-secret.yaml")) {
			if d.kind() == "MutatingWebhookConfiguration" {
				webhook = d.obj
			}
		}
		require.NotNil(t, webhook)
		problems, err := api.validate(webhook)
		require.NoError(t, err)
		require.Empty(t, problems)
		webhook["webhooks"].([]any)[0].(map[string]any)["clientConfig"].(map[string]any)["caBundle"] = "not base64!"
		problems, err = api.validate(webhook)
		require.NoError(t, err)
		require.Len(t, problems, 1)
		assert.Contains(t, problems[0], "webhooks[0].clientConfig.caBundle in body must be of type byte")
	})

	t.Run("kind not in the spec", func(t *testing.T) {
		obj := deepCopy(t, deployment)
		obj["kind"] = "Deploymnet"
		_, err := api.validate(obj)
		require.ErrorIs(t, err, errKindNotInSpec)
		obj["kind"], obj["apiVersion"] = "Deployment", "apps/v2"
		_, err = api.validate(obj)
		require.ErrorIs(t, err, errKindNotInSpec)
	})
}

// TestOpenAPIVersion: kubernetesVersion is the release hack/lib.sh builds and go.mod's
// k8s.io/api is its staging module.
func TestOpenAPIVersion(t *testing.T) {
	minor := strings.TrimPrefix(kubernetesVersion, "v1.")
	gomod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^\s*k8s\.io/api v0\.`+regexp.QuoteMeta(minor)+`\s*$`, string(gomod),
		"go.mod's k8s.io/api is not v0.%s: change kubernetesVersion with it", minor)
	lib, err := os.ReadFile("../hack/lib.sh")
	require.NoError(t, err)
	assert.Contains(t, string(lib), "K8S_VERSION=${K8S_VERSION:-"+kubernetesVersion+"}", "hack/lib.sh builds another Kubernetes: change kubernetesVersion with it")
}

// renderedDoc is one document of a golden file and the template it came from.
type renderedDoc struct {
	source string
	obj    map[string]any
}

func (d renderedDoc) apiVersion() string { s, _ := d.obj["apiVersion"].(string); return s }
func (d renderedDoc) kind() string       { s, _ := d.obj["kind"].(string); return s }

func (d renderedDoc) name() string {
	m, _ := d.obj["metadata"].(map[string]any)
	name, _ := m["name"].(string)
	if ns, _ := m["namespace"].(string); ns != "" {
		return ns + "/" + name
	}
	return name
}

func renderedDocs(t *testing.T, file string) []renderedDoc {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err, "no golden file: go test ./charts/ -update")
	var docs []renderedDoc
	for _, part := range strings.Split(string(raw), "\n---") {
		var obj map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(part), &obj), "%s: %s", file, part)
		if obj == nil {
			continue
		}
		source := "no # Source line"
		if _, rest, ok := strings.Cut(part, "# Source: "); ok {
			source, _, _ = strings.Cut(rest, "\n")
		}
		docs = append(docs, renderedDoc{source: source, obj: obj})
	}
	return docs
}

func deepCopy(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

// openAPI is the Kubernetes OpenAPI v3 spec of kubernetesVersion, read one group-version file
// at a time as documents ask for it; each file is read, and each schema decoded and expanded,
// once per test binary.
type openAPI struct {
	dir string // api/openapi-spec/v3 of the k8s.io/kubernetes module
	mu  sync.Mutex
	gvs map[string]*groupVersion // by apiVersion; nil: the spec has no such group-version
}

// groupVersion is one file of the spec: its schemas and, by kind, the names of the schemas
// that carry x-kubernetes-group-version-kind for its own group-version.
type groupVersion struct {
	file     string
	raw      map[string]json.RawMessage // components.schemas
	kinds    map[string]string
	expanded map[string]*spec.Schema
}

var k8sOpenAPI struct {
	once sync.Once
	api  *openAPI
	skip string // why the spec is not available, when it cannot be
	err  error
}

// kubernetesOpenAPI finds the spec in the module cache, downloading k8s.io/kubernetes with the
// go command when it is not there yet. Without a go command the test is skipped, saying so; a
// failed download fails it.
func kubernetesOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	k8sOpenAPI.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			k8sOpenAPI.skip = fmt.Sprintf("SKIPPED, NOT VALIDATED: no go command on PATH (%v) to download k8s.io/kubernetes@%s, whose api/openapi-spec the chart is validated against", err, kubernetesVersion)
			return
		}
		dir, err := downloadKubernetes(goBin)
		if err != nil {
			k8sOpenAPI.err = err
			return
		}
		k8sOpenAPI.api = &openAPI{dir: filepath.Join(dir, "api", "openapi-spec", "v3"), gvs: map[string]*groupVersion{}}
	})
	if k8sOpenAPI.skip != "" {
		t.Skip(k8sOpenAPI.skip)
	}
	require.NoError(t, k8sOpenAPI.err)
	return k8sOpenAPI.api
}

// downloadKubernetes returns the directory of k8s.io/kubernetes@kubernetesVersion in the module
// cache. It runs outside this module so that neither go.mod nor go.sum can change.
func downloadKubernetes(goBin string) (string, error) {
	tmp, err := os.MkdirTemp("", "vaultkube-openapi-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mod := "k8s.io/kubernetes@" + kubernetesVersion
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", mod)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Dir, Error string }
	jsonErr := json.Unmarshal(stdout.Bytes(), &info)
	if runErr != nil || jsonErr != nil || info.Error != "" || info.Dir == "" {
		return "", fmt.Errorf("go mod download -json %s: %v\n%s%s", mod, errors.Join(runErr, jsonErr), stdout.String(), stderr.String())
	}
	return info.Dir, nil
}

// groupVersion reads the spec file of apiVersion ("v1" is api__v1_openapi.json, "apps/v1"
// apis__apps__v1_openapi.json); nil when the spec has none.
func (o *openAPI) groupVersion(apiVersion string) (*groupVersion, error) {
	if gv, ok := o.gvs[apiVersion]; ok {
		return gv, nil
	}
	name := "api__" + apiVersion + "_openapi.json"
	if strings.Contains(apiVersion, "/") {
		name = "apis__" + strings.ReplaceAll(apiVersion, "/", "__") + "_openapi.json"
	}
	file := filepath.Join(o.dir, name)
	raw, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) || apiVersion == "" || strings.Count(apiVersion, "/") > 1 {
		o.gvs[apiVersion] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// only components.schemas, each decoded when first needed: decoding a whole file with
	// spec3.OpenAPI takes most of a second for the larger group-versions
	var doc struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(doc.Components.Schemas) == 0 {
		return nil, fmt.Errorf("%s has no components.schemas", file)
	}
	group, version, ok := strings.Cut(apiVersion, "/")
	if !ok {
		group, version = "", apiVersion
	}
	gv := &groupVersion{file: file, raw: doc.Components.Schemas, kinds: map[string]string{}, expanded: map[string]*spec.Schema{}}
	for schemaName, s := range gv.raw {
		if !bytes.Contains(s, []byte(`"x-kubernetes-group-version-kind"`)) {
			continue
		}
		var ext struct {
			GVKs []struct{ Group, Version, Kind string } `json:"x-kubernetes-group-version-kind"`
		}
		if err := json.Unmarshal(s, &ext); err != nil {
			return nil, fmt.Errorf("%s: schema %s: %w", file, schemaName, err)
		}
		for _, gvk := range ext.GVKs {
			if gvk.Group == group && gvk.Version == version {
				if prev, dup := gv.kinds[gvk.Kind]; dup {
					return nil, fmt.Errorf("%s: %s %s is both %s and %s", file, apiVersion, gvk.Kind, prev, schemaName)
				}
				gv.kinds[gvk.Kind] = schemaName
			}
		}
	}
	o.gvs[apiVersion] = gv
	return gv, nil
}

// validate checks a whole object against the schema of its apiVersion and kind; the error
// wraps errKindNotInSpec when the spec has no such schema.
func (o *openAPI) validate(obj map[string]any) ([]string, error) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	o.mu.Lock()
	gv, err := o.groupVersion(apiVersion)
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if gv == nil {
		return nil, fmt.Errorf("apiVersion %q: %w", apiVersion, errKindNotInSpec)
	}
	schemaName, ok := gv.kinds[kind]
	if !ok {
		return nil, fmt.Errorf("%s kind %q: %w", apiVersion, kind, errKindNotInSpec)
	}
	return o.validateAt(obj, apiVersion, schemaName, "")
}

// validateAt checks value, found at path, against the named schema of apiVersion's file.
func (o *openAPI) validateAt(value any, apiVersion, schemaName, path string) ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	gv, err := o.groupVersion(apiVersion)
	if err != nil {
		return nil, err
	}
	if gv == nil {
		return nil, fmt.Errorf("no spec file for %s", apiVersion)
	}
	s, err := gv.expand(schemaName, nil)
	if err != nil {
		return nil, err
	}
	var problems []string
	res := validate.NewSchemaValidator(s, nil, path, strfmt.Default).Validate(value)
	for _, e := range res.Errors {
		problems = append(problems, e.Error())
	}
	slices.Sort(problems)
	var unknown []string
	unknownFields(s, value, path, &unknown)
	return append(problems, unknown...), nil
}

const schemaRefPrefix = "#/components/schemas/"

// expand returns the named schema with every $ref replaced by the schema it names, as far down
// as the schema goes: kube-openapi's validator does not follow references. Expanded schemas
// carry their name as Title, which unknownFields reports. A recursive schema is an error:
// none of the kinds the chart renders has one.
func (gv *groupVersion) expand(name string, stack []string) (*spec.Schema, error) {
	if s, ok := gv.expanded[name]; ok {
		return s, nil
	}
	if slices.Contains(stack, name) {
		return nil, fmt.Errorf("%s: recursive schema %s", gv.file, strings.Join(append(stack, name), " → "))
	}
	raw, ok := gv.raw[name]
	if !ok {
		return nil, fmt.Errorf("%s: no schema %s", gv.file, name)
	}
	s := new(spec.Schema)
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("%s: schema %s: %w", gv.file, name, err)
	}
	out, err := gv.expandSchema(s, append(stack, name))
	if err != nil {
		return nil, err
	}
	named := *out // out may be another name's expansion when this one is only a reference
	named.Title = name
	gv.expanded[name] = &named
	return &named, nil
}

func (gv *groupVersion) expandSchema(s *spec.Schema, stack []string) (*spec.Schema, error) {
	if ref := s.Ref.String(); ref != "" {
		name, ok := strings.CutPrefix(ref, schemaRefPrefix)
		if !ok {
			return nil, fmt.Errorf("%s: $ref %s outside %s", gv.file, ref, schemaRefPrefix)
		}
		return gv.expand(name, stack)
	}
	// a field whose type is another schema is {allOf: [{$ref}], description, default}
	if len(s.AllOf) == 1 && len(s.Type) == 0 && s.Properties == nil && s.Items == nil && s.AdditionalProperties == nil &&
		s.OneOf == nil && s.AnyOf == nil && s.Not == nil {
		return gv.expandSchema(&s.AllOf[0], stack)
	}
	out := *s
	var err error
	expandAll := func(in []spec.Schema) []spec.Schema {
		if in == nil || err != nil {
			return in
		}
		res := make([]spec.Schema, len(in))
		for i := range in {
			var e *spec.Schema
			if e, err = gv.expandSchema(&in[i], stack); err != nil {
				return nil
			}
			res[i] = *e
		}
		return res
	}
	out.AllOf, out.AnyOf, out.OneOf = expandAll(s.AllOf), expandAll(s.AnyOf), expandAll(s.OneOf)
	if s.Not != nil && err == nil {
		out.Not, err = gv.expandSchema(s.Not, stack)
	}
	if s.Properties != nil && err == nil {
		out.Properties = make(map[string]spec.Schema, len(s.Properties))
		for k, p := range s.Properties {
			var e *spec.Schema
			if e, err = gv.expandSchema(&p, stack); err != nil {
				break
			}
			out.Properties[k] = *e
		}
	}
	if s.Items != nil && err == nil {
		items := &spec.SchemaOrArray{Schemas: expandAll(s.Items.Schemas)}
		if s.Items.Schema != nil && err == nil {
			items.Schema, err = gv.expandSchema(s.Items.Schema, stack)
		}
		out.Items = items
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil && err == nil {
		extra := &spec.SchemaOrBool{Allows: true}
		extra.Schema, err = gv.expandSchema(s.AdditionalProperties.Schema, stack)
		out.AdditionalProperties = extra
	}
	if err != nil {
		return nil, err
	}
	// an int-or-string is {format: int-or-string, oneOf: [integer, string]} in the v3 spec
	// (x-kubernetes-int-or-string in CRD schemas); the type validator would read the format as
	// a type and reject integers, so the oneOf alone decides
	if intOrString, _ := s.Extensions["x-kubernetes-int-or-string"].(bool); intOrString || s.Format == "int-or-string" {
		out.Format, out.Type = "", nil
		if out.OneOf == nil && out.AnyOf == nil {
			out.AnyOf = []spec.Schema{*spec.Int64Property(), *spec.StringProperty()}
		}
	}
	return &out, nil
}

// unknownFields appends the path of every field of value that schema s does not define. A map
// (additionalProperties) takes any key, x-kubernetes-preserve-unknown-fields any content, and
// an object schema without properties (FieldsV1, RawExtension) is free-form. Paths use the
// validator's notation: spec.template.spec.containers[0].name.
func unknownFields(s *spec.Schema, value any, path string, out *[]string) {
	if preserve, _ := s.Extensions["x-kubernetes-preserve-unknown-fields"].(bool); preserve {
		return
	}
	switch v := value.(type) {
	case map[string]any:
		props, extra := objectShape(s)
		if len(props) == 0 && extra == nil && (len(s.Type) == 0 || s.Type.Contains("object")) {
			return // free-form, or not an object at all: the validator reports the type
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			switch ps, ok := props[k]; {
			case ok:
				unknownFields(ps, v[k], p, out)
			case extra != nil && extra.Schema != nil:
				unknownFields(extra.Schema, v[k], p, out)
			case extra != nil && extra.Allows:
			default:
				in := s.Title
				if in == "" {
					in = "its schema"
				}
				*out = append(*out, fmt.Sprintf("%s is not a field of %s", p, in))
			}
		}
	case []any:
		if s.Items != nil && s.Items.Schema != nil {
			for i, item := range v {
				unknownFields(s.Items.Schema, item, fmt.Sprintf("%s[%d]", path, i), out)
			}
		}
	}
}

// objectShape collects the properties and additionalProperties of s and of its allOf, anyOf
// and oneOf branches.
func objectShape(s *spec.Schema) (map[string]*spec.Schema, *spec.SchemaOrBool) {
	props := map[string]*spec.Schema{}
	var extra *spec.SchemaOrBool
	var collect func(s *spec.Schema)
	collect = func(s *spec.Schema) {
		for k := range s.Properties {
			p := s.Properties[k]
			props[k] = &p
		}
		if s.AdditionalProperties != nil && (extra == nil || s.AdditionalProperties.Allows) {
			extra = s.AdditionalProperties
		}
		for _, branches := range [][]spec.Schema{s.AllOf, s.AnyOf, s.OneOf} {
			for i := range branches {
				collect(&branches[i])
			}
		}
	}
	collect(s)
	return props, extra
}
