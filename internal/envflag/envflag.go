// Package envflag gives every flag of a command an environment twin.
package envflag

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Name returns the environment twin of flag under prefix: ("VAULTKUBE_", "vault-address")
// is VAULTKUBE_VAULT_ADDRESS.
func Name(prefix, flag string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Apply sets every flag the command line left unset from its environment twin; the errors
// name the variable.
func Apply(fs *pflag.FlagSet, prefix string) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		if v, ok := os.LookupEnv(Name(prefix, f.Name)); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", Name(prefix, f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}
