package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

// startPushgateway starts Debian's prometheus-pushgateway on a free loopback port and
// returns its URL. Without the program the test is skipped, unless
// DOCKET_TEST_PUSHGATEWAY=require (CI), which makes its absence a failure.
func startPushgateway(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		if os.Getenv("DOCKET_TEST_PUSHGATEWAY") == "require" {
			t.Fatal("prometheus-pushgateway is not installed (apt-get install prometheus-pushgateway)")
		}
		t.Skip("prometheus-pushgateway is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	url := "http://" + addr
	waitFor(t, 10*time.Second, "the pushgateway to answer", func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return url
}

// TestPushgateway runs a job that succeeds and one that fails on a server pushing to a
// real Pushgateway, and reads each job's last run back from the gateway.
func TestPushgateway(t *testing.T) {
	t.Parallel()
	gateway := startPushgateway(t)
	dir := t.TempDir()
	s := startServer(t, dir+"/data", "--pushgateway", gateway)
	jobs := writeFile(t, dir, "jobs.yaml", `name: fine
image: busybox
command: ["sleep", "0.2"]
cpu: 100m
memory: 64Mi
---
name: broken
image: busybox
command: ["sh", "-c", "exit 3"]
cpu: 100m
memory: 64Mi
`)
	if out, errOut, code := s.cli("apply", "-f", jobs); code != 0 {
		t.Fatalf("apply: exit %d %s %s", code, out, errOut)
	}
	ran := map[string]job.Run{}
	for _, name := range []string{"fine", "broken"} {
		var r job.Run
		if status := s.api("POST", "/api/v1/jobs/"+name+"/runs", "{}", &r); status != 201 {
			t.Fatalf("submit %s: %d", name, status)
		}
		ran[name] = s.waitTerminal(r.ID, 30*time.Second)
	}
	var m scraped
	waitFor(t, 10*time.Second, "both runs on the gateway", func() bool {
		m = scrape(t, gateway+"/metrics")
		return len(m.matching("docket_last_run_succeeded", "job", "fine")) == 1 &&
			len(m.matching("docket_last_run_succeeded", "job", "broken")) == 1
	})
	for name, want := range map[string]struct {
		succeeded, exit float64
		state           string
	}{"fine": {1, 0, "succeeded"}, "broken": {0, 3, "failed"}} {
		r := ran[name]
		labels := []string{"job", name, "run_id", r.ID, "state", want.state}
		if got := m.sum("docket_last_run_succeeded", labels...); got != want.succeeded {
			t.Errorf("%s: docket_last_run_succeeded %g, want %g", name, got, want.succeeded)
		}
		if got := m.sum("docket_last_run_exit_code", labels...); got != want.exit {
			t.Errorf("%s: docket_last_run_exit_code %g, want %g", name, got, want.exit)
		}
		wantDuration := r.FinishedAt.Sub(*r.StartedAt).Seconds()
		if got := m.sum("docket_last_run_duration_seconds", labels...); fmt.Sprintf("%.3f", got) != fmt.Sprintf("%.3f", wantDuration) {
			t.Errorf("%s: docket_last_run_duration_seconds %g, want %g", name, got, wantDuration)
		}
		if got := m.sum("docket_last_run_finish_timestamp_seconds", labels...); int64(got) != r.FinishedAt.Unix() {
			t.Errorf("%s: docket_last_run_finish_timestamp_seconds %g, want %d", name, got, r.FinishedAt.Unix())
		}
	}

	// The job's next run replaces its group: the gateway keeps only the last run.
	var again job.Run
	if status := s.api("POST", "/api/v1/jobs/fine/runs", "{}", &again); status != 201 {
		t.Fatalf("submit fine again: %d", status)
	}
	s.waitTerminal(again.ID, 30*time.Second)
	waitFor(t, 10*time.Second, "the second run of fine on the gateway", func() bool {
		m = scrape(t, gateway+"/metrics")
		return len(m.matching("docket_last_run_succeeded", "job", "fine", "run_id", again.ID)) == 1
	})
	if n := len(m.matching("docket_last_run_succeeded", "job", "fine")); n != 1 {
		t.Errorf("the gateway holds %d series of fine's last run, want 1", n)
	}
}
