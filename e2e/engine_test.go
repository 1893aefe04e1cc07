package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"docket.dev/docket/internal/execute/container/enginetest"
)

// TestRunLocalFindsPodman runs a job in a container with DOCKER_HOST unset: docket finds
// the engine as rootless Podman's socket under XDG_RUNTIME_DIR. With nothing there, the
// error says how to start Podman's service.
func TestRunLocalFindsPodman(t *testing.T) {
	t.Parallel()
	engine := enginetest.Engine(t)
	target, ok := strings.CutPrefix(engine.DaemonHost(), "unix://")
	if !ok {
		t.Skipf("the engine under test is at %s, not a unix socket", engine.DaemonHost())
	}
	for _, sock := range []string{"/var/run/docker.sock", "/run/podman/podman.sock"} {
		if _, err := os.Stat(sock); err == nil {
			t.Skipf("%s exists and comes before rootless Podman's socket", sock)
		}
	}
	image := enginetest.JobImage(t, engine)
	file := writeFile(t, t.TempDir(), "greet.yaml", fmt.Sprintf(`name: greet
image: %s
command: ["testjob", "env"]
cpu: 500m
memory: 64Mi
`, image))

	runtimeDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(runtimeDir, "podman"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(runtimeDir, "podman", "podman.sock")); err != nil {
		t.Fatal(err)
	}
	env := []string{"DOCKER_HOST=", "XDG_RUNTIME_DIR=" + runtimeDir}
	args := []string{"run", "-f", file, "--local", "--container-network", "none"}
	stdout, stderr, code := docket(t, env, args...)
	if code != 0 || !strings.Contains(stdout, "DOCKET_JOB=greet\n") || !strings.Contains(stderr, "with the container executor") {
		t.Fatalf("run through rootless Podman's socket: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	empty := t.TempDir()
	_, stderr, code = docket(t, []string{"DOCKER_HOST=", "XDG_RUNTIME_DIR=" + empty}, args...)
	sock := filepath.Join(empty, "podman", "podman.sock")
	start := "podman system service --time=0 unix:///run/podman/podman.sock &"
	if os.Geteuid() != 0 {
		start = "podman system service --time=0 unix://" + sock + " &"
	}
	for _, want := range []string{
		"no container engine answers; tried DOCKER_HOST (unset), unix:///var/run/docker.sock: no such socket",
		"unix://" + sock + ": no such socket",
		"Podman is installed but its API service is not running; start it with: ",
		start,
		"use --executor process",
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("with no engine: exit %d, stderr lacks %q:\n%s", code, want, stderr)
		}
	}
}
