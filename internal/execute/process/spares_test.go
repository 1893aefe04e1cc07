package process

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"docket.dev/docket/internal/execute/executetest"
)

// TestWorkDirReused runs one run after another: each starts in an empty working directory
// of mode 0700 named after it, whatever the run before left there (files, a mode of its
// own, nothing); a directory left empty is the next run's, renamed, and one left with
// files is removed. While no run goes on, the work directory holds no run's record or
// working directory, and once the executor stops, nothing at all.
func TestWorkDirReused(t *testing.T) {
	t.Parallel()
	e, rec := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- e.Run(ctx) }()
	out := t.TempDir()
	scripts := []string{
		`stat -c '%a %i' . > "$OUT/$DOCKET_RUN_ID"; ls -A >> "$OUT/$DOCKET_RUN_ID"; chmod 755 .`, // leaves it empty, mode 755
		`stat -c '%a %i' . > "$OUT/$DOCKET_RUN_ID"; ls -A >> "$OUT/$DOCKET_RUN_ID"; touch left`,  // leaves a file
		`stat -c '%a %i' . > "$OUT/$DOCKET_RUN_ID"; ls -A >> "$OUT/$DOCKET_RUN_ID"`,
		`stat -c '%a %i' . > "$OUT/$DOCKET_RUN_ID"; ls -A >> "$OUT/$DOCKET_RUN_ID"`,
	}
	var seen [][]string
	for i, script := range scripts {
		id := fmt.Sprintf("r%d", i)
		x := execution(id, time.Minute, "sh", "-c", `[ "$(basename "$PWD")" = "$DOCKET_RUN_ID" ] || exit 9; `+script)
		x.Env["OUT"] = out
		if err := e.Start(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		if u := rec.Finish(t, 20*time.Second); u.Reason != "Completed" {
			t.Fatalf("run %s: %s %q", id, u.Reason, u.Message)
		}
		executetest.WaitIdle(t, e)
		seen = append(seen, strings.Fields(readFile(t, filepath.Join(out, id))))
		for _, name := range entries(t, e.opts.WorkDir) {
			if !strings.HasPrefix(name, sparePrefix) && !strings.HasPrefix(name, idlePrefix) {
				t.Errorf("after run %s the work directory holds %s", id, name)
			}
		}
	}
	for i, s := range seen {
		if len(s) != 2 || s[0] != "700" {
			t.Errorf("run r%d started in a directory of mode and inode %v; want mode 700 and nothing in it", i, s)
		}
	}
	if len(seen) == 4 && len(seen[0]) == 2 && len(seen[1]) == 2 && len(seen[2]) == 2 && len(seen[3]) == 2 {
		if seen[1][1] != seen[0][1] {
			t.Errorf("run r1 got directory %s; want r0's %s, which r0 left empty", seen[1][1], seen[0][1])
		}
		if seen[3][1] != seen[2][1] {
			t.Errorf("run r3 got directory %s; want r2's %s", seen[3][1], seen[2][1])
		}
	}
	cancel()
	<-stopped
	if left := entries(t, e.opts.WorkDir); len(left) > 0 {
		t.Errorf("the work directory holds %v after the executor stopped", left)
	}
}

// TestSweepSpares: a server that starts removes the spares and waiting keepers' records
// of servers that are gone, not those of a server that still runs.
func TestSweepSpares(t *testing.T) {
	t.Parallel()
	e, _ := setup(t)
	gone := deadPID(t)
	names := map[string]bool{ // name: whether it stays
		fmt.Sprintf("%s%d-1-3", sparePrefix, gone):          false,
		fmt.Sprintf("%s%d-1-%d", idlePrefix, gone, gone+1):  false,
		fmt.Sprintf("%s%d-1-3", sparePrefix, os.Getppid()):  true,
		fmt.Sprintf("%s%d-1-123", idlePrefix, os.Getppid()): true,
	}
	for name := range names {
		p := filepath.Join(e.opts.WorkDir, name)
		if strings.HasPrefix(name, sparePrefix) {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(p, []byte("1 1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.sweepStale(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for name, stays := range names {
		if stays {
			want = append(want, name)
		}
	}
	slices.Sort(want)
	if got := entries(t, e.opts.WorkDir); !slices.Equal(got, want) {
		t.Errorf("after the sweep: %v; want %v", got, want)
	}
}

// deadPID returns the pid of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(p.Pid, 0); err == nil {
		t.Skipf("pid %d was reused at once", p.Pid)
	}
	return p.Pid
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
