package csi

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite docs/csi.md")

func TestDocs(t *testing.T) {
	got := Markdown()
	for _, p := range Parameters {
		assert.Contains(t, got, "| `"+p.Key+"`", p.Key)
	}
	for _, f := range ObjectFields {
		assert.Contains(t, got, "| `"+f.Key+"`", f.Key)
	}
	golden := filepath.Join("..", "docs", "csi.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test ./csi -run TestDocs -update")
	assert.Equal(t, string(want), got, "docs/csi.md is stale: run go test ./csi -run TestDocs -update")
}
