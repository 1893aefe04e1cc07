package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"docket.dev/docket/internal/alert"
	"docket.dev/docket/internal/job"
)

// receiver collects the webhooks' posts.
type receiver struct {
	mu     sync.Mutex
	alerts []alert.Alert
	texts  []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/json"):
		var a alert.Alert
		if err := json.Unmarshal(data, &a); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		rc.alerts = append(rc.alerts, a)
	case strings.HasPrefix(r.URL.Path, "/slack"):
		var m struct{ Text string }
		if err := json.Unmarshal(data, &m); err != nil || m.Text == "" {
			http.Error(w, "want {\"text\": ...}", 400)
			return
		}
		rc.texts = append(rc.texts, m.Text)
	}
}

func (rc *receiver) of(kind alert.Kind, jobName string) []alert.Alert {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []alert.Alert
	for _, a := range rc.alerts {
		if a.Kind == kind && a.Job == jobName {
			out = append(out, a)
		}
	}
	return out
}

// TestAlerts runs a job that fails for good and expects a success within 2s, and a
// scheduled job that overruns its slots, on a server posting alerts to a local receiver
// in both formats. The webhooks' URLs are given as secrets are (a file, the environment)
// and never show in the server's log, not even for a hook that cannot be reached.
func TestAlerts(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	hooks := httptest.NewServer(rc)
	defer hooks.Close()
	dir := t.TempDir()
	gone := hooks.URL[:strings.LastIndex(hooks.URL, ":")] + ":1" // nothing listens on port 1
	slackFile := writeFile(t, dir, "slack-hooks", "# the team's channel\n"+hooks.URL+"/slack/T0/B0/s3cr3t-file\n"+gone+"/slack/s3cr3t-gone\n")
	s := startServerEnv(t, []string{"DOCKET_WEBHOOK=" + hooks.URL + "/json/s3cr3t-env"}, dir+"/data",
		"--slack-webhook-file", slackFile, "--alert-interval", "200ms", "--retry-backoff", "100ms")
	jobs := writeFile(t, dir, "jobs.yaml", `name: doomed
image: busybox
command: ["sh", "-c", "exit 3"]
cpu: 100m
memory: 64Mi
retries: 1
expect_success_within: 2s
---
name: slow
image: busybox
command: ["sleep", "2.5"]
cpu: 100m
memory: 64Mi
schedule: "@every 1s"
concurrency: forbid
`)
	if out, errOut, code := s.cli("apply", "-f", jobs); code != 0 {
		t.Fatalf("apply: exit %d %s %s", code, out, errOut)
	}
	var first job.Run
	if status := s.api("POST", "/api/v1/jobs/doomed/runs", "{}", &first); status != 201 {
		t.Fatalf("submit: %d", status)
	}
	waitFor(t, 30*time.Second, "doomed's second attempt to fail", func() bool {
		return len(s.allRuns("job=doomed&state=failed")) == 2
	})
	waitFor(t, 10*time.Second, "the alerts", func() bool {
		return len(rc.of(alert.RunFailed, "doomed")) > 0 && len(rc.of(alert.NoSuccess, "doomed")) > 0 &&
			len(rc.of(alert.SlotSkipped, "slow")) > 0
	})
	time.Sleep(time.Second) // time for a doubled alert to show

	// One alert for the run that failed for good, none for the attempt that was retried.
	failed := rc.of(alert.RunFailed, "doomed")
	runs := s.allRuns("job=doomed")
	last := runs[0] // newest first
	if len(failed) != 1 || failed[0].RunID != last.ID || failed[0].RunID == first.ID || failed[0].Reason != "ExitCode" || failed[0].Message != "exited with code 3" {
		t.Errorf("run_failed alerts %+v; want one for the last attempt %s", failed, last.ID)
	}
	// The dead man's switch fires once per silence.
	silent := rc.of(alert.NoSuccess, "doomed")
	if len(silent) != 1 || !strings.Contains(silent[0].Message, "expects a success within 2s") {
		t.Errorf("no_success alerts %+v; want one", silent)
	}
	skipped := rc.of(alert.SlotSkipped, "slow")
	if skipped[0].Reason != "ConcurrencyForbid" || skipped[0].RunID == "" {
		t.Errorf("slot_skipped alert %+v", skipped[0])
	}
	if r := s.run(skipped[0].RunID); r.State != job.StateSkipped {
		t.Errorf("the skipped slot's run %s is %s", r.ID, r.State)
	}
	rc.mu.Lock()
	texts := strings.Join(rc.texts, "\n")
	rc.mu.Unlock()
	waitFor(t, 10*time.Second, "the unreachable hook's failure to be logged", func() bool {
		return strings.Contains(s.Log(), "alert not delivered")
	})
	if log := s.Log(); strings.Contains(log, "s3cr3t") || !strings.Contains(log, "webhook="+gone+"/(hidden)") {
		t.Errorf("the server's log shows a webhook's secret, or not which hook failed:\n%s", log)
	}
	for _, want := range []string{
		"Docket: run " + last.ID + " of job doomed failed (ExitCode): exited with code 3",
		"Docket: a slot of job slow did not run (ConcurrencyForbid)",
		"Docket: job doomed: no run has succeeded for",
	} {
		if !strings.Contains(texts, want) {
			t.Errorf("Slack messages lack %q:\n%s", want, texts)
		}
	}
}
