package server

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestOpenStoreUnwritable opens the store in a directory nobody may create files in
// (sysfs refuses even root): the error says which directory and why, not SQLite's
// "unable to open database file (14)".
func TestOpenStoreUnwritable(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/sys/kernel"); err != nil {
		t.Skip("no sysfs at /sys")
	}
	cfg := DefaultConfig()
	cfg.DataDir = "/sys/kernel"
	st, _, err := openStore(context.Background(), cfg)
	if err == nil {
		st.Close()
		t.Fatal("a store opened in /sys/kernel")
	}
	if msg := err.Error(); !strings.Contains(msg, "cannot write in /sys/kernel, where the database /sys/kernel/docket.db is kept") || strings.Contains(msg, "(14)") {
		t.Errorf("the error: %s", msg)
	}
}
