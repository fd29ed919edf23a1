#!/usr/bin/env bash
# consumer-check: a module that imports only percpuref must inherit only
# what the library needs. Builds a scratch consumer module in a temporary
# directory, with a replace pointing at this repository, tidies it, and
# fails, naming them, if its build list holds any module but the library
# and its own dependencies (x/sys, cpuid, and testify with testify's own).
# Run from anywhere: bash .ci/consumer-check.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lib=github.com/percpuref/percpu

# The modules a consumer may inherit, as a regular expression over module
# paths: the library, what its non-test code imports (x/sys, cpuid), and
# testify, which its tests use, with testify's own requirements (objx and
# go.yaml.in/yaml/v3 since v1.11; go-spew, go-difflib and gopkg.in/yaml.v3
# before).
allowed='^(github\.com/percpuref/percpu|golang\.org/x/sys|github\.com/klauspost/cpuid/v2|github\.com/stretchr/testify|github\.com/stretchr/objx|go\.yaml\.in/yaml/v3|github\.com/davecgh/go-spew|github\.com/pmezard/go-difflib|gopkg\.in/yaml\.v3)$'

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
# The scratch module is a user's: outside the repository's workspace, and
# put in none by a GOWORK in the environment.
export GOWORK=off
go mod init example.com/consumer 2>/dev/null
cat >main.go <<'GO'
package main

import (
	"fmt"

	"github.com/percpuref/percpu/percpuref"
)

func main() {
	done := false
	r := percpuref.New(func() { done = true })
	r.Get()
	r.Put()
	r.Kill()
	fmt.Println("released:", done)
}
GO
go mod edit -replace "$lib=$root"
go mod tidy
go run .

echo "a module importing $lib/percpuref has, in go list -m all:"
mods=$(go list -m -f '{{if not .Main}}{{.Path}}{{end}}' all | sed '/^$/d')
sed 's/^/  /' <<<"$mods"
extra=$(grep -Ev "$allowed" <<<"$mods" || true)
if [[ -n $extra ]]; then
  echo "consumer-check: FAIL: a user of the library inherits modules it does not need:"
  sed 's/^/  /' <<<"$extra"
  exit 1
fi
echo "consumer-check: ok, only the library and its own dependencies"
