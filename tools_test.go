package main

import (
	"os"
	"os/exec"
	"testing"
)

// needTool returns the path of an external program a test drives. When it is
// missing the test is skipped, unless ARCHSCOPE_REQUIRE_TOOLS is set (make test
// sets it after installing them), where a missing tool is a failure.
func needTool(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("ARCHSCOPE_REQUIRE_TOOLS") != "" {
		t.Fatalf("%v not installed (make deps-test installs it)", names)
	}
	t.Skipf("%v not installed; make test installs it", names)
	return ""
}
