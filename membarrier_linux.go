//go:build (amd64 || arm64) && !purego && !race

package percpu

import (
	"golang.org/x/sys/unix"
)

// The membarrier(2) commands (linux/membarrier.h).
const (
	membarrierCmdQuery                    = 0
	membarrierCmdPrivateExpedited         = 1 << 3
	membarrierCmdRegisterPrivateExpedited = 1 << 4
)

var barrierWhyNot = registerBarrier()

// registerBarrier asks the kernel for private expedited membarrier (Linux
// 4.14 and later) and registers the process for it. It returns "" on
// success, and otherwise why not, naming the errno: it fails on older
// kernels and where seccomp refuses the call, and the fast path then falls
// back to atomic adds.
func registerBarrier() string {
	cmds, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdQuery, 0, 0)
	if errno != 0 {
		return "membarrier refused: " + unix.ErrnoName(errno)
	}
	if cmds&membarrierCmdPrivateExpedited == 0 {
		return "membarrier lacks PRIVATE_EXPEDITED (Linux 4.14)"
	}
	_, _, errno = unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdRegisterPrivateExpedited, 0, 0)
	if errno != 0 {
		return "membarrier registration refused: " + unix.ErrnoName(errno)
	}
	return ""
}

// barrierStatus returns "" if membarrier is ready, and otherwise why not.
func barrierStatus() string { return barrierWhyNot }

// barrier runs a full memory barrier on every CPU that runs a thread of this
// process, or makes sure each such thread passes one before it next runs.
func barrier() {
	if _, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdPrivateExpedited, 0, 0); errno != 0 {
		// Registration succeeded, so the kernel cannot refuse this now;
		// carrying on would break the protocol silently.
		panic("percpu: membarrier failed after registration: " + errno.Error())
	}
}
