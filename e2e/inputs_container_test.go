package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"docket.dev/docket/internal/execute/container/enginetest"
)

// TestInputsContainer sends a folder and a file with a run on the container executor
// (Podman here): they are copied into the container before it starts, in its working
// directory ($DOCKET_INPUTS).
func TestInputsContainer(t *testing.T) {
	t.Parallel()
	engine := enginetest.Engine(t)
	image := enginetest.JobImage(t, engine)
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--executor", "container", "--container-network", "none", "--kill-grace", "1s")
	def := writeFile(t, dir, "cat.yaml", fmt.Sprintf("name: cat\nimage: %s\ncommand: [testjob, cat, src/main.txt, src/deep/more.txt, data.csv]\ncpu: 100m\nmemory: 64Mi\n", image))
	if _, errOut, code := s.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "deep"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, src, "main.txt", "hello")
	writeFile(t, filepath.Join(src, "deep"), "more.txt", "deeper")
	csv := writeFile(t, dir, "data.csv", "a,b")
	out, errOut, code := s.cli("run", "cat", "--dir", src, "--file", csv, "--wait", "--logs")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"pwd=/docket/inputs", "src/main.txt=hello", "src/deep/more.txt=deeper", "data.csv=a,b"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
