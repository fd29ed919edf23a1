package callfloor

import (
	"sync/atomic"
	"testing"
)

func TestAdds(t *testing.T) {
	var c atomic.Int64
	AsmAdd(&c, 5)
	GoAdd(&c, -2)
	AsmAdd(&c, -1)
	if got := c.Load(); got != 2 {
		t.Fatalf("count %d, want 2", got)
	}
}
