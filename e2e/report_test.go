package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"docket.dev/docket/internal/execute/container/enginetest"
	"docket.dev/docket/internal/job"
)

// reporterScript is a job that reports about itself: metrics with docket report, a
// checkpoint on its first attempt (which then fails), and on the retry, which resumes from
// that checkpoint, more metrics and a result with curl.
const reporterScript = `set -e
cp=$("$BIN" report --get-checkpoint)
echo "resuming from: $cp"
"$BIN" report --metric records_read=1200 --metric models_updated=3
if [ "$DOCKET_ATTEMPT" = 1 ]; then
  "$BIN" report --checkpoint '{"offset": 600}'
  exit 3
fi
curl -sSf -H "Authorization: Bearer $DOCKET_TOKEN" \
  -d '{"result": {"auc": 0.91}, "metrics": {"records_read": 2400}}' \
  "$DOCKET_API/api/v1/runs/$DOCKET_RUN_ID/report" >/dev/null
`

// TestJobReports runs a job that reports about itself through the API with its run token,
// on a server that requires API tokens, and reads the reports back on the run, through the
// checkpoint a retry resumes from, and on /metrics.
func TestJobReports(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed (scripts/test installs it): the job reports with it")
	}
	forEachStore(t, func(t *testing.T, storeFlags []string) {
		dir := t.TempDir()
		token, tokens := tokensFile(t, dir, "ana", "admin")
		s := startServer(t, dir+"/data", append([]string{"--tokens-file", tokens, "--retry-backoff", "100ms"}, storeFlags...)...)
		as := func(args ...string) (string, string, int) {
			return docket(t, []string{"DOCKET_SERVER=" + s.URL, "DOCKET_TOKEN=" + token, "DOCKET_CONFIG=" + dir + "/none.yaml"}, args...)
		}
		script, _ := json.Marshal(reporterScript)
		def := writeFile(t, dir, "reporter.yaml", fmt.Sprintf("name: reporter\nimage: busybox\ncommand: [\"sh\", \"-c\", %s]\ncpu: 100m\nmemory: 64Mi\nretries: 1\nenv: {BIN: %q}\n", script, binary))
		if _, errOut, code := as("apply", "-f", def); code != 0 {
			t.Fatalf("apply: %s", errOut)
		}
		if out, errOut, code := as("run", "reporter", "--wait"); code != 0 {
			t.Fatalf("run: exit %d %s %s", code, out, errOut)
		}
		out, errOut, code := as("runs", "--job", "reporter", "-o", "json")
		var runs struct{ Runs []job.Run }
		if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs.Runs) != 2 {
			t.Fatalf("runs: %s %s", out, errOut)
		}
		retry, first := runs.Runs[0], runs.Runs[1]
		if first.ExitCode == nil || *first.ExitCode != 3 || retry.State != job.StateSucceeded || retry.RetryOf != first.ID {
			t.Fatalf("attempts: %+v, %+v", first, retry)
		}

		// The retry resumed from the first attempt's checkpoint.
		if log, _, _ := as("logs", first.ID); !strings.Contains(log, "resuming from: null\n") {
			t.Errorf("first attempt's log: %q", log)
		}
		if log, _, _ := as("logs", retry.ID); !strings.Contains(log, `resuming from: {"offset":600}`) {
			t.Errorf("retry's log: %q", log)
		}

		// The reports show on each run.
		out, _, _ = as("describe", "run", retry.ID)
		for _, want := range []string{"Reported:", "models_updated  3", "records_read    2400", "Result:\n  {\"auc\":0.91}"} {
			if !strings.Contains(out, want) {
				t.Errorf("describe run %s lacks %q:\n%s", retry.ID, want, out)
			}
		}
		out, _, _ = as("describe", "run", first.ID, "-o", "json")
		var described struct{ Report job.Report }
		if json.Unmarshal([]byte(out), &described) != nil || described.Report.Metrics["records_read"] != 1200 || compactJSON(described.Report.Checkpoint) != `{"offset":600}` {
			t.Errorf("first attempt's report: %s", out)
		}

		// A run token reports only on its own run, and only while it runs.
		status := s.api("POST", "/api/v1/runs/"+first.ID+"/report", `{"metrics": {"late": 1}}`, nil, "Authorization", "Bearer docket-run."+first.ID+".forged")
		if status != http.StatusUnauthorized {
			t.Errorf("a forged run token: %d", status)
		}
		if status := s.api("POST", "/api/v1/runs/"+first.ID+"/report", `{"metrics": {"late": 1}}`, nil, "Authorization", "Bearer "+token); status != http.StatusConflict {
			t.Errorf("a report on a finished run: %d", status)
		}

		// The job's last reported metrics are on /metrics.
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{`docket_run_reported{job="reporter",name="records_read"} 2400`, `docket_run_reported{job="reporter",name="models_updated"} 3`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// compactJSON is a JSON document without its indentation.
func compactJSON(doc json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return "invalid JSON: " + string(doc)
	}
	return b.String()
}

// TestJobReportsFromContainer runs a job that reports in a container: set up as the README
// says for Podman, the server listens on every address and gives its runs
// http://host.containers.internal:PORT as DOCKET_API, where a container finds the host.
func TestJobReportsFromContainer(t *testing.T) {
	t.Parallel()
	engine := enginetest.Engine(t)
	image := enginetest.JobImage(t, engine)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	dir := t.TempDir()
	token, tokens := tokensFile(t, dir, "ana", "admin")
	s := startServer(t, dir+"/data", "--tokens-file", tokens, "--executor", "container",
		"--addr", "0.0.0.0:"+port, "--api-url", "http://host.containers.internal:"+port)
	as := func(args ...string) (string, string, int) {
		return docket(t, []string{"DOCKET_SERVER=" + s.URL, "DOCKET_TOKEN=" + token, "DOCKET_CONFIG=" + dir + "/none.yaml"}, args...)
	}
	def := writeFile(t, dir, "reporter.yaml", "name: boxed-reporter\nimage: "+image+"\ncommand: [testjob, report, rows=1200, models=3]\ncpu: 100m\nmemory: 64Mi\n")
	if _, errOut, code := as("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	out, errOut, code := as("run", "boxed-reporter", "--wait", "-o", "json")
	var r job.Run
	if json.Unmarshal([]byte(out), &r) != nil || r.ID == "" {
		t.Fatalf("run: exit %d %s %s", code, out, errOut)
	}
	if r.State != job.StateSucceeded {
		log, _, _ := as("logs", r.ID)
		t.Fatalf("the reporting container's run %s: %s\n%s", r.State, r.Message, log)
	}
	out, _, _ = as("describe", "run", r.ID)
	for _, want := range []string{"Reported:", "models  3", "rows    1200"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe run %s lacks %q:\n%s", r.ID, want, out)
		}
	}
}
