package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

func TestClaimDataDirLocks(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	first, err := claimDataDir(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Listening("127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	_, err = claimDataDir(cfg)
	want := fmt.Sprintf("%s is in use by the docket server with pid %d on %s, listening on 127.0.0.1:8080, since ", filepath.Join(cfg.DataDir, "docket.db"), os.Getpid(), host)
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), "; stop it, or give this server another --data-dir") {
		t.Errorf("a second claim: %v; want %q...", err, want)
	}
	first.Close()
	again, err := claimDataDir(cfg)
	if err != nil {
		t.Fatalf("a claim after the first server let go: %v", err)
	}
	again.Close()

	// PostgreSQL is shared by design: nothing to lock.
	cfg.DatabaseURL = "postgres://db/docket"
	if l, err := claimDataDir(cfg); l != nil || err != nil {
		t.Errorf("claim on PostgreSQL = %v, %v; want no lock", l, err)
	}
}

// TestDataDirPrivate checks that the data directory and the database files are the server's
// user's only, both when they are new and when an earlier version made them readable.
func TestDataDirPrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"docket.db", "docket.db-wal"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	for _, d := range []string{dir, fresh} {
		cfg := DefaultConfig()
		cfg.DataDir = d
		l, err := claimDataDir(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		st, _, err := openStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, _, err := st.DefinitionPut(ctx, job.Spec{Name: "a", Image: "x", CPU: "1", Memory: "1Gi", Env: map[string]string{"SECRET": "x"}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SettingInit(ctx, "run-token-key", "k"); err != nil {
			t.Fatal(err)
		}
		want := map[string]os.FileMode{d: 0o700, "docket.db": 0o600, "docket.db-wal": 0o600, "docket.db-shm": 0o600, "docket.db.lock": 0o600}
		for name, mode := range want {
			p := name
			if name != d {
				p = filepath.Join(d, name)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s: %v", p, err)
			} else if fi.Mode().Perm() != mode {
				t.Errorf("%s has mode %v, want %v", p, fi.Mode().Perm(), mode)
			}
		}
	}
}

// TestDataDirParents checks that only the data directory itself is made private: the
// directories made above it are as any.
func TestDataDirParents(t *testing.T) {
	t.Parallel()
	top := filepath.Join(t.TempDir(), "srv")
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(top, "docket", "data")
	l, err := claimDataDir(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for dir, mode := range map[string]os.FileMode{top: 0o755, filepath.Join(top, "docket"): 0o755, cfg.DataDir: 0o700} {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != mode&^umask() {
			t.Errorf("%s: %v, %v; want %v", dir, fi.Mode().Perm(), err, mode&^umask())
		}
	}
}

// umask is the process's file mode creation mask, as /proc tells it (setting it to read
// it would race with the other tests).
func umask() os.FileMode {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			m, _ := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			return os.FileMode(m)
		}
	}
	return 0o022
}
