package pivot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ConfigMapStore keeps small documents in ConfigMaps of the namespace (the pivot journal).
type ConfigMapStore interface {
	// GetConfigMap returns the data, or an error wrapping fs.ErrNotExist when there is none.
	GetConfigMap(ctx context.Context, name string) (map[string]string, error)
	PutConfigMap(ctx context.Context, name string, data map[string]string) error
	DeleteConfigMap(ctx context.Context, name string) error
}

// Store is where a pivot keeps its journal: a local file, or a ConfigMap so that a run
// interrupted on one machine can be resumed from another.
type Store interface {
	Load(ctx context.Context) ([]byte, error) // fs.ErrNotExist when there is none
	Save(ctx context.Context, b []byte) error
	Remove(ctx context.Context) error
	String() string
}

// ConfigMapKey is the key of the journal in its ConfigMap.
const ConfigMapKey = "journal.json"

// NewStore reads --journal: a file path, or configmap:NAME in namespace ns (cms may be nil
// when the cluster access cannot store ConfigMaps).
func NewStore(spec, ns string, cms ConfigMapStore) (Store, error) {
	if name, ok := strings.CutPrefix(spec, "configmap:"); ok {
		if name == "" {
			return nil, fmt.Errorf("--journal configmap:NAME needs a name")
		}
		if cms == nil {
			return nil, fmt.Errorf("--journal %s: this cluster access cannot store ConfigMaps", spec)
		}
		return &configMapJournal{name: name, ns: ns, cms: cms}, nil
	}
	if spec == "" {
		return nil, fmt.Errorf("--journal must name a file or configmap:NAME")
	}
	return fileJournal(spec), nil
}

type fileJournal string

func (f fileJournal) Load(context.Context) ([]byte, error) { return os.ReadFile(string(f)) }
func (f fileJournal) String() string                       { return string(f) }
func (f fileJournal) Remove(context.Context) error         { return os.Remove(string(f)) }

// Save replaces the file atomically (0600).
func (f fileJournal) Save(_ context.Context, b []byte) error {
	tmp := string(f) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, string(f))
}

type configMapJournal struct {
	name, ns string
	cms      ConfigMapStore
}

func (c *configMapJournal) String() string { return "ConfigMap " + c.ns + "/" + c.name }

func (c *configMapJournal) Load(ctx context.Context) ([]byte, error) {
	data, err := c.cms.GetConfigMap(ctx, c.name)
	if err != nil {
		return nil, err
	}
	s, ok := data[ConfigMapKey]
	if !ok {
		return nil, fmt.Errorf("%s has no %s: %w", c, ConfigMapKey, fs.ErrNotExist)
	}
	return []byte(s), nil
}

func (c *configMapJournal) Save(ctx context.Context, b []byte) error {
	return c.cms.PutConfigMap(ctx, c.name, map[string]string{ConfigMapKey: string(b)})
}

func (c *configMapJournal) Remove(ctx context.Context) error {
	err := c.cms.DeleteConfigMap(ctx, c.name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
