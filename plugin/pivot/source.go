package pivot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/vaultkube/vaultkube/internal/vaultclient"
	"github.com/vaultkube/vaultkube/plugin/internal/snapfile"
)

// Source is the source Vault of a pivot reached over its HTTP API from this machine (not
// through a pod): for its seal status and to take the raft snapshot.
type Source struct {
	addr string
	c    *vaultapi.Client
}

// NewSource builds a client for addr; the token goes in a header, never in a URL. TLS
// settings come only from the flags: VAULT_SKIP_VERIFY, VAULT_CACERT, VAULT_TOKEN and the
// other VAULT_* variables of this machine's environment are not used (issue 18).
func NewSource(addr, token, caCert, serverName string) (*Source, error) {
	c, err := vaultclient.New(vaultclient.Options{
		Address: addr,
		TLS:     vaultclient.TLS{CACert: caCert, ServerName: serverName},
	})
	if err != nil {
		return nil, fmt.Errorf("--source-addr: %w", err)
	}
	c.SetClientTimeout(0) // snapshots of any size: the context bounds the call
	c.SetToken(token)
	return &Source{addr: addr, c: c}, nil
}

func (s *Source) sealStatus(ctx context.Context) (*vaultapi.SealStatusResponse, error) {
	st, err := s.c.Sys().SealStatusWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("source Vault at %s: %w", s.addr, err)
	}
	return st, nil
}

// snapshot streams the source's raft snapshot into a new file (0600, never overwriting) and
// writes FILE.sha256 beside it. It returns the checksum.
func (s *Source) snapshot(ctx context.Context, file string) (string, error) {
	partial := file + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer func() {
		if f != nil {
			f.Close()
			os.Remove(partial)
		}
	}()
	h := sha256.New()
	if err := s.c.Sys().RaftSnapshotWithContext(ctx, io.MultiWriter(f, h)); err != nil {
		return "", fmt.Errorf("snapshot of the source Vault at %s: %w", s.addr, err)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	f = nil
	if err := os.Link(partial, file); err != nil {
		os.Remove(partial)
		return "", err
	}
	os.Remove(partial)
	sum := hex.EncodeToString(h.Sum(nil))
	return sum, snapfile.WriteChecksum(file, sum)
}
