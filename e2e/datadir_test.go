package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// TestDataDirOneServer starts a second server on the data directory of a running one: it
// refuses to start, naming the first, and the first's run goes on to its end. The data
// directory, the database and a run's working directory are the server's user's only.
func TestDataDirOneServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	a := startServer(t, data)
	file := writeFile(t, dir, "job.yaml", "name: long\nimage: busybox\ncommand: [sh, -c, 'stat -c %a .; sleep 2']\ncpu: 1\nmemory: 64Mi\n")
	if _, errOut, code := a.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	r := a.submit("long")
	waitFor(t, 20*time.Second, "the run to start", func() bool { return a.run(r.ID).State == job.StateRunning })

	// A second server that starts would serve until killed: give it 20s to refuse.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "server", "--data-dir", data, "--addr", "127.0.0.1:0").CombinedOutput()
	want := fmt.Sprintf("in use by the docket server with pid %d on ", a.cmd.Process.Pid)
	if ctx.Err() != nil || err == nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), "listening on "+strings.TrimPrefix(a.URL, "http://")) {
		t.Errorf("a second server on the data dir: %v (ran until killed: %v)\n%s\nwant a refusal naming pid %d and %s", err, ctx.Err() != nil, out, a.cmd.Process.Pid, a.URL)
	}
	if got := a.waitTerminal(r.ID, 30*time.Second); got.State != job.StateSucceeded {
		t.Errorf("the first server's run ended %s %s: %s", got.State, got.Reason, got.Message)
	}
	if log := a.logs(r.ID); log != "700\n" {
		t.Errorf("the run's working directory has mode %q, want 700", log)
	}
	for name, mode := range map[string]os.FileMode{"": 0o700, "docket.db": 0o600, "docket.db-wal": 0o600, "docket.db-shm": 0o600, "work": 0o700} {
		if fi, err := os.Stat(filepath.Join(data, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, %v; want %v", filepath.Join(data, name), fi.Mode().Perm(), err, mode)
		}
	}
}

// TestDataDirRelative starts a server on a relative data directory, as the default
// (.docket) is. A run starts in a directory of its own, and still finds docket on its
// PATH and its input files where $DOCKET_INPUTS says.
func TestDataDirRelative(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServerIn(t, dir, nil, "data")
	file := writeFile(t, dir, "job.yaml", "name: rel\nimage: busybox\ncpu: 1\nmemory: 64Mi\n"+
		"command: [sh, -c, 'command -v docket && cat \"$DOCKET_INPUTS/in.txt\" && docket report --metric seen=1']\n")
	if _, errOut, code := s.cli("apply", "-f", file); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	in := writeFile(t, dir, "in.txt", "from the laptop\n")
	out, errOut, code := s.cli("run", "rel", "--file", in, "--wait", "-o", "json")
	var r job.Run
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || r.State != job.StateSucceeded {
		t.Fatalf("docket run rel: exit %d, %v\n%s%s\nrun log:\n%s", code, err, out, errOut, s.logs(r.ID))
	}
	want := filepath.Join(dir, "data", "bin", "docket") + "\nfrom the laptop\nreported 1 metric for run " + r.ID + "\n"
	if log := s.logs(r.ID); log != want {
		t.Errorf("the run's log:\n%s\nwant:\n%s", log, want)
	}
}
