package server

import (
	"fmt"
	"os"
	"testing"

	"docket.dev/docket/internal/execute/process"
)

// TestMain makes the test binary a process run's keeper when the process executor starts
// it as one, as the docket binary is.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == process.KeeperArg {
		if err := process.Keep(); err != nil {
			fmt.Fprintln(os.Stderr, "keeper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}
