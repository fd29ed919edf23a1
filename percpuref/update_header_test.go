package percpuref

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// The assembly of this package includes its own copy of the root package's
// update_amd64.h (an assembly file can include only files of its own
// package): the two must not drift apart. go generate refreshes the copy.
// The test runs on every platform, as the files are only compared.
func TestUpdateHeaderIsTheRootOne(t *testing.T) {
	root, err := os.ReadFile("../update_amd64.h")
	require.NoError(t, err)
	mine, err := os.ReadFile("update_amd64.h")
	require.NoError(t, err)
	require.Equal(t, string(root), string(mine), "percpuref/update_amd64.h differs from ../update_amd64.h: run go generate ./percpuref")
}
