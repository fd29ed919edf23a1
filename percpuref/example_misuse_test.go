//go:build !percpurefdebug

// This example prints a misuse message, which the percpurefdebug build
// extends with a file path ("; Ref released at FILE:LINE"), so it is checked
// in the default build only.

package percpuref_test

import (
	"errors"
	"fmt"

	"github.com/percpuref/percpu/percpuref"
)

// With a misuse handler, an extra Put is reported instead of panicking, and
// the count is poisoned: the released Ref stays released, and every later
// Get and Put is reported too.
func ExampleWithMisuseHandler() {
	r := percpuref.New(
		func() { fmt.Println("released") },
		percpuref.WithMisuseHandler(func(err error) {
			fmt.Println("misuse:", err)
			var me *percpuref.MisuseError
			if errors.As(err, &me) && errors.Is(err, percpuref.ErrUnderflow) {
				fmt.Println("op:", me.Op, "count:", me.Count)
			}
		}),
	)
	r.Kill()
	r.Put() // one Put too many
	r.Get() // and a Get after release
	fmt.Println("zero:", r.IsZero(), "get:", r.TryGet())
	// Output:
	// released
	// misuse: percpuref: Put: reference count underflow (count 0)
	// op: Put count: 0
	// misuse: percpuref: Get: use after release (count poisoned by an earlier misuse)
	// zero: true get: false
}
