package injector

import (
	"strings"
	"testing"

	"github.com/Masterminds/sprig/v3"
	ctemplate "github.com/hashicorp/consul-template/template"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFunctionNamesMatchConsulTemplate checks every stubbed function name against the real
// consul-template: a name it does not define fails to parse there.
func TestFunctionNamesMatchConsulTemplate(t *testing.T) {
	for _, name := range append([]string{"sprig_upper", "sprig_b64enc"}, consulTemplateFuncs...) {
		tmpl, err := ctemplate.NewTemplate(&ctemplate.NewTemplateInput{Contents: "{{ if false }}{{ " + name + " }}{{ end }}"})
		require.NoError(t, err)
		_, err = tmpl.Execute(&ctemplate.ExecuteInput{Brain: ctemplate.NewBrain()})
		if err != nil {
			assert.NotContains(t, err.Error(), "not defined", name)
		}
	}
	// and the reverse for a typo: consul-template and we both refuse it
	tmpl, err := ctemplate.NewTemplate(&ctemplate.NewTemplateInput{Contents: "{{ secrett }}"})
	require.NoError(t, err)
	_, err = tmpl.Execute(&ctemplate.ExecuteInput{Brain: ctemplate.NewBrain()})
	require.Error(t, err)
	assert.Error(t, ValidateTemplate("{{ secrett }}", "", ""))
}

func TestValidateTemplateAgreesWithConsulTemplate(t *testing.T) {
	for _, text := range []string{
		`{{ with secret "kv/data/a" }}{{ .Data.data.x }}{{ end }}`,
		`{{ range secrets "kv/metadata/" }}{{ . }}{{ end }}`,
		`{{- with pkiCert "pki/issue/x" "common_name=a" -}}{{ .Key }}{{- end -}}`,
		`{{ define "x" }}a{{ end }}{{ template "x" }}`,
		`{{ if }}`,
		`{{ end }}`,
		`{{ .Data | toJSON }`,
		`{{ "a" | sprig_nope }}`,
	} {
		tmpl, err := ctemplate.NewTemplate(&ctemplate.NewTemplateInput{Contents: text})
		require.NoError(t, err)
		_, cterr := tmpl.Execute(&ctemplate.ExecuteInput{Brain: ctemplate.NewBrain()})
		ctParse := cterr != nil && strings.HasPrefix(cterr.Error(), "parse:")
		ours := ValidateTemplate(text, "", "")
		assert.Equal(t, ctParse, ours != nil, "%s: consul-template %v, ours %v", text, cterr, ours)
	}
}

// TestSprigFuncsMatchSprig keeps sprigFuncs equal to sprig's hermetic text functions.
func TestSprigFuncsMatchSprig(t *testing.T) {
	var want []string
	for name := range sprig.HermeticTxtFuncMap() {
		want = append(want, name)
	}
	assert.ElementsMatch(t, want, sprigFuncs)
}
