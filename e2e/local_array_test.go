package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunLocalArray runs an array from a definition file on this machine, with a folder
// sent along: docket run -f FILE --local --each-line --dir prints each task's result line
// in index order, and each task read the folder from its working directory.
func TestRunLocalArray(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, src, "greeting.txt", "hi")
	def := writeFile(t, dir, "job.yaml", `name: local-array
image: busybox
command: ["sh", "-c", "test \"$(cat src/greeting.txt)\" = hi && test $DOCKET_TASK_COUNT = 3"]
cpu: 100m
memory: 64Mi
`)
	lines := writeFile(t, dir, "lines.txt", "a\nb\nc\n")
	out, errOut, code := docket(t, []string{"DOCKET_CONFIG=" + dir + "/none.yaml"}, "run", "-f", def, "--local", "--executor", "process", "--each-line", lines, "--dir", src)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	if len(got) != 3 {
		t.Fatalf("%d result lines; want 3:\n%s", len(got), out)
	}
	for i, want := range []string{`"index":0,"input":"a","state":"succeeded"`, `"index":1,"input":"b","state":"succeeded"`, `"index":2,"input":"c","state":"succeeded"`} {
		if !strings.Contains(got[i], want) {
			t.Errorf("line %d: %s; want %s", i, got[i], want)
		}
	}
	if !strings.Contains(errOut, "3/3 succeeded") {
		t.Errorf("no progress:\n%s", errOut)
	}
}
