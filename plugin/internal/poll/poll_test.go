package poll

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestUntil(t *testing.T) {
	ctx := context.Background()
	calls := 0
	assert.NoError(t, Until(ctx, time.Second, time.Millisecond, func() (bool, error) { calls++; return calls == 3, nil }))
	assert.Equal(t, 3, calls)

	boom := errors.New("boom")
	assert.ErrorIs(t, Until(ctx, time.Second, time.Millisecond, func() (bool, error) { return false, boom }), boom)

	calls = 0
	assert.ErrorIs(t, Until(ctx, 0, time.Millisecond, func() (bool, error) { calls++; return false, nil }), context.DeadlineExceeded)
	assert.Equal(t, 1, calls, "a zero timeout still checks once")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	assert.ErrorIs(t, Until(cctx, time.Hour, time.Hour, func() (bool, error) { return false, nil }), context.Canceled)
}
