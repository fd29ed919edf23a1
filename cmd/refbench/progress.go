package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// progress shows, on one line of stderr, how far the run has got and an
// estimate of the time left. It shows nothing when stderr is not a
// terminal, so that logs and pipes stay clean.
type progress struct {
	w     io.Writer // nil: hidden
	total int
	done  int
	t0    time.Time
}

func newProgress(stderr io.Writer) *progress {
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &progress{w: f}
	}
	return &progress{}
}

func (p *progress) start(total int) {
	p.total, p.done, p.t0 = total, 0, time.Now()
}

// step announces the measurement about to run.
func (p *progress) step(label string) {
	if p.w == nil {
		return
	}
	eta := "?"
	if p.done > 0 {
		left := time.Since(p.t0) / time.Duration(p.done) * time.Duration(p.total-p.done)
		eta = left.Round(time.Second).String()
	}
	// \r and erase-line rewrite the same line each time.
	fmt.Fprintf(p.w, "\r\x1b[K[%*d/%d] %3d%% eta %s  %s", len(fmt.Sprint(p.total)), p.done+1, p.total, 100*p.done/max(p.total, 1), eta, label)
	p.done++
}

// finish erases the progress line.
func (p *progress) finish() {
	if p.w != nil {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}
