package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// inputsScript reads the run's files from its working directory ($DOCKET_INPUTS) and
// reports what it found.
const inputsScript = `set -e
test "$PWD" = "$DOCKET_INPUTS"
if [ -n "$DOCKET_TASK_INPUT" ]; then
  "$BIN" report --result "{\"file\": \"$DOCKET_TASK_INPUT\", \"rows\": $(wc -l < "$DOCKET_TASK_INPUT")}"
  exit 0
fi
sh src/run.sh
test ! -e src/secret.env
test ! -e src/.git
"$BIN" report --result "{\"rows\": $(wc -l < data.csv), \"main\": \"$(cat src/main.txt)\"}"
`

// TestInputs sends a small project (--dir, honouring its .gitignore, never its .git), a
// CSV (--file) and a folder of shards in folders (--each-file) with runs on the process executor,
// which find them in their working directory; content the server has is not sent again,
// and a symlink out of the folder is refused before anything is sent.
func TestInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir+"/data")
	script, _ := json.Marshal(inputsScript)
	def := writeFile(t, dir, "read.yaml", fmt.Sprintf("name: read\nimage: busybox\ncommand: [\"sh\", \"-c\", %s]\ncpu: 100m\nmemory: 64Mi\nenv: {BIN: %q}\n", script, binary))
	if _, errOut, code := s.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	src := filepath.Join(dir, "src")
	shards := filepath.Join(dir, "shards")
	for _, d := range []string{src, filepath.Join(src, ".git"), shards} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, src, "main.txt", "hello")
	writeFile(t, src, "run.sh", "test -f src/main.txt\n")
	writeFile(t, src, "secret.env", "TOKEN=x\n")
	writeFile(t, src, ".gitignore", "*.env\n")
	writeFile(t, filepath.Join(src, ".git"), "config", "[core]\n")
	csv := writeFile(t, dir, "data.csv", "a,b\n1,2\n3,4\n")

	out, errOut, code := s.cli("run", "read", "--dir", src, "--file", csv, "--wait")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "sending 4 files") || !strings.Contains(errOut, "(0 bytes of it already on the server)") {
		t.Errorf("no word of what is sent:\n%s", errOut)
	}
	m := regexp.MustCompile(`run (\S+) of read submitted`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no run id in:\n%s", errOut)
	}
	id := m[1]
	if rep := s.report(id); string(rep) != `{"rows":3,"main":"hello"}` {
		t.Errorf("result %s", rep)
	}
	if out, errOut, code = s.cli("run", "read", "--dir", src, "--file", csv); code != 0 || !strings.Contains(errOut, "already on the server") || strings.Contains(errOut, "(0 bytes") {
		t.Errorf("second run sent again: exit %d\n%s", code, errOut)
	}

	// Files in the folders below --each-file's make tasks too, placed at their paths.
	sub := map[int]string{0: "", 1: "2026/", 2: "2026/11/"}
	for i := range 3 {
		if err := os.MkdirAll(filepath.Join(shards, sub[i]), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(shards, sub[i]), fmt.Sprintf("part-%d.csv", i), strings.Repeat("x\n", i+1))
	}
	writeFile(t, shards, ".DS_Store", "not a task")
	out, errOut, code = s.cli("run", "read", "--each-file", shards, "--wait", "--results")
	if code != 0 {
		t.Fatalf("each-file: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("each-file: %d tasks; want 3:\n%s", n, out)
	}
	for i := range 3 {
		if want := fmt.Sprintf(`"result":{"file":"shards/%spart-%d.csv","rows":%d}`, sub[i], i, i+1); !strings.Contains(out, want) {
			t.Errorf("results lack %s:\n%s", want, out)
		}
	}

	// An array run's output is its tasks': docket logs names one by --task.
	task0 := between(out, `"run_id":"`, `"`)
	array := s.run(task0).Parent
	if _, errOut, code := s.cli("logs", array); code == 0 || !strings.Contains(errOut, "name one with --task (0 to 2)") {
		t.Errorf("logs of an array run: exit %d %s; want it to point to --task", code, errOut)
	}
	if got, errOut, code := s.cli("logs", array, "--task", "0"); code != 0 || got != s.logs(task0) || got == "" {
		t.Errorf("logs --task 0: exit %d %q %s; want task 0's log %q", code, got, errOut, s.logs(task0))
	}

	outside := writeFile(t, dir, "outside.txt", "no")
	if err := os.Symlink(outside, filepath.Join(src, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := s.cli("run", "read", "--dir", src); code == 0 || !strings.Contains(errOut, "outside") {
		t.Errorf("a symlink out of --dir: exit %d %s; want it refused", code, errOut)
	}
}

// report returns the result a run reported.
func (s *server) report(id string) json.RawMessage {
	var rep struct{ Result json.RawMessage }
	if code := s.api("GET", "/api/v1/runs/"+id+"/report", "", &rep); code != 200 {
		s.t.Fatalf("report of %s: %d", id, code)
	}
	return rep.Result
}
