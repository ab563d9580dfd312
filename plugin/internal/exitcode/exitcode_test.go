package exitcode

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOf(t *testing.T) {
	assert.Equal(t, OK, Of(nil))
	assert.Equal(t, Error, Of(errors.New("plain")))
	refused := Refusedf("pod %s: declined", "vault-0")
	assert.Equal(t, Refused, Of(refused))
	assert.Equal(t, "pod vault-0: declined", refused.Error())
	wrapped := fmt.Errorf("step 3: %w", NotReadyf("sealed"))
	assert.Equal(t, NotReady, Of(wrapped), "the code survives wrapping")
	assert.True(t, Is(wrapped, NotReady))
	assert.False(t, Is(wrapped, Refused))
}
