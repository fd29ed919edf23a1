package refcheck

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// A Log keeps and prints the first MaxShown violations, says once that it
// prints no more, and counts them all.
func TestLogKeepsTheFirstAndCountsAll(t *testing.T) {
	var out bytes.Buffer
	log := Log{Out: &out}
	for i := range MaxShown + 5 {
		log.Failf("violation %d", i)
	}
	if n := log.Count(); n != MaxShown+5 {
		t.Errorf("Count = %d, want %d", n, MaxShown+5)
	}
	first := log.First()
	if len(first) != MaxShown || first[0] != "violation 0" || first[MaxShown-1] != fmt.Sprintf("violation %d", MaxShown-1) {
		t.Errorf("First = %q", first)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != MaxShown+1 || lines[0] != "VIOLATION: violation 0" || lines[MaxShown] != "(further violations are counted, not printed)" {
		t.Errorf("printed:\n%s", out.String())
	}
}

// runPool tracks refs Refs in a Pool of 4 workers for d, then kills each
// live one and checks them all.
func runPool(log *Log, refs, faultEvery int, d time.Duration) {
	p := NewPool(refs, 4)
	p.FaultEvery = faultEvery
	for i := range p.Refs {
		p.Refs[i].Store(New(log, fmt.Sprintf("ref %d", i)))
	}
	p.Start(1, 0)
	time.Sleep(d)
	p.Stop()
	p.Drain(rand.New(rand.NewPCG(1, 1)))
	for i := range p.Refs {
		p.Refs[i].Load().FinalCheck()
	}
}

// Workers that use Refs correctly make no violation; the checker is not
// blind either: a worker that puts one reference more than it took, now and
// then, is caught.
func TestPoolFindsAnExtraPutAndNothingElse(t *testing.T) {
	var clean Log
	runPool(&clean, 4, 0, 50*time.Millisecond)
	if n := clean.Count(); n != 0 {
		t.Errorf("%d violations without a fault; the first: %q", n, clean.First())
	}
	var faulty Log
	runPool(&faulty, 4, 200, 50*time.Millisecond)
	if faulty.Count() == 0 {
		t.Errorf("an extra Put every 200 operations went unnoticed")
	}
}
