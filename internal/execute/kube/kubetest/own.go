package kubetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
)

// Plane is a test control plane of a test's own, started by scripts/kube in a directory of
// the test's, so the test may stop a component of it.
type Plane struct {
	// Kubeconfig is the path of its kubeconfig (as DOCKET_TEST_KUBECONFIG would be).
	Kubeconfig string
	// Client is a client for it.
	Client kubernetes.Interface

	script, dir string
}

// Own starts a control plane of the test's own and stops it when the test ends. A test
// that stops a component, as Stop does, needs one: on the control plane the tests share,
// the others would stall. Like Client, it skips the test when no test control plane is
// configured (DOCKET_TEST_KUBECONFIG), since scripts/kube has then not built the binaries.
func Own(t testing.TB) *Plane {
	t.Helper()
	kubeconfig(t)
	p := &Plane{script: script(t), dir: t.TempDir()}
	var stderr bytes.Buffer
	start := exec.Command(p.script, "start", p.dir)
	start.Stderr = &stderr
	out, err := start.Output()
	t.Cleanup(func() { exec.Command(p.script, "stop", p.dir).Run() })
	if err != nil {
		t.Fatalf("scripts/kube start %s: %v\n%s", p.dir, err, &stderr)
	}
	p.Kubeconfig = strings.TrimPrefix(strings.TrimSpace(string(out)), "DOCKET_TEST_KUBECONFIG=")
	p.Client = client(t, p.Kubeconfig)
	return p
}

// Stop stops one component of the plane (kube-controller-manager, kube-scheduler, kwok, ...).
func (p *Plane) Stop(t testing.TB, component string) {
	t.Helper()
	p.run(t, "stop", component)
}

// Start starts a component stopped by Stop again; scripts/kube starts the
// kube-controller-manager alone.
func (p *Plane) Start(t testing.TB, component string) {
	t.Helper()
	p.run(t, "start", component)
}

func (p *Plane) run(t testing.TB, cmd, component string) {
	t.Helper()
	if out, err := exec.Command(p.script, cmd, p.dir, component).CombinedOutput(); err != nil {
		t.Fatalf("scripts/kube %s %s %s: %v\n%s", cmd, p.dir, component, err, out)
	}
}

// script finds scripts/kube in the repository that holds the test's directory.
func script(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		path := filepath.Join(dir, "scripts", "kube")
		if _, err := os.Stat(path); err == nil {
			return path
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("scripts/kube not found above the test's directory")
		}
		dir = parent
	}
}
