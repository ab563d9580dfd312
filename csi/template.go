package csi

import (
	"context"
	"fmt"
	"strings"

	dep "github.com/hashicorp/consul-template/dependency"
	"github.com/hashicorp/consul-template/template"
)

// deniedFuncs are the consul-template functions a template must not use in the provider: they
// would read the provider's own files or environment, run programs, or write files.
var deniedFuncs = []string{
	"env", "envOrDefault", "mustEnv", "file", "plugin", "writeToFile", "pkiCert", "executeTemplate",
	"sockaddr",
}

// maxTemplateRounds bounds the render/fetch rounds of one template (a template whose reads
// depend on other reads needs more than one).
const maxTemplateRounds = 5

// render runs o's consul-template template with the pod's token: the template's Vault reads
// are fetched with consul-template's own dependency code (KV v2 and write queries included)
// and the output is the file.
func (s *session) render(ctx context.Context, o *Object) ([]byte, error) {
	tmpl, err := template.NewTemplate(&template.NewTemplateInput{
		Contents:         o.Template,
		ErrMissingKey:    true,
		FunctionDenylist: deniedFuncs,
	})
	if err != nil {
		return nil, kindErr(KindTemplate, fmt.Errorf("object %s: %s: %s", o.Name, ExtTemplate, oneLine(err.Error())))
	}
	brain := template.NewBrain()
	var clients *dep.ClientSet
	for round := 0; ; round++ {
		res, err := tmpl.Execute(&template.ExecuteInput{Brain: brain})
		if err != nil {
			return nil, kindErr(KindTemplate, fmt.Errorf("object %s: %s: %s", o.Name, ExtTemplate, oneLine(err.Error())))
		}
		missing := res.Missing.List()
		if len(missing) == 0 {
			return res.Output, nil
		}
		if round == maxTemplateRounds {
			return nil, kindErr(KindTemplate, fmt.Errorf("object %s: %s: still reading after %d rounds", o.Name, ExtTemplate, round))
		}
		if clients == nil {
			tok, err := s.tokenFor(ctx, false)
			if err != nil {
				return nil, err
			}
			clients, err = s.templateClients(tok)
			if err != nil {
				return nil, kindErr(KindTemplate, fmt.Errorf("object %s: %s: %w", o.Name, ExtTemplate, err))
			}
			defer clients.Stop()
		}
		for _, d := range missing {
			if d.Type() != dep.TypeVault {
				return nil, kindErr(KindTemplate, fmt.Errorf("object %s: %s: %s is not a Vault function: only Vault's are served", o.Name, ExtTemplate, d))
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			s.p.m.Reads.Inc()
			data, _, err := d.Fetch(clients, &dep.QueryOptions{})
			d.Stop()
			if err != nil {
				return nil, kindErr(KindRead, fmt.Errorf("object %s: %s: %s", o.Name, ExtTemplate, oneLine(err.Error())))
			}
			brain.Remember(d, data)
		}
	}
}

// templateClients is a consul-template client set for the pod's token, with the request's
// address, namespace and TLS settings.
func (s *session) templateClients(tok string) (*dep.ClientSet, error) {
	cs := dep.NewClientSet()
	t := s.req.TLS
	err := cs.CreateVaultClient(&dep.CreateVaultClientInput{
		Address:    s.req.VaultAddress,
		Namespace:  s.req.VaultNamespace,
		Token:      tok,
		SSLEnabled: strings.HasPrefix(s.req.VaultAddress, "https"),
		SSLVerify:  !t.SkipVerify,
		SSLCert:    t.ClientCert,
		SSLKey:     t.ClientKey,
		SSLCACert:  t.CACert,
		SSLCAPath:  t.CADirectory,
		ServerName: t.ServerName,
	})
	if err != nil {
		return nil, err
	}
	return cs, nil
}
