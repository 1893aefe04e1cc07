package e2e

import (
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"docket.dev/docket/internal/job"
)

// TestMetrics runs scheduled, failing and suspended jobs on a real server, then scrapes
// /metrics and parses it as Prometheus would.
func TestMetrics(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, storeFlags []string) {
		dir := t.TempDir()
		s := startServer(t, dir+"/data", storeFlags...)
		jobs := writeFile(t, dir, "jobs.yaml", `name: tick
image: busybox
command: ["echo", "tick"]
cpu: 100m
memory: 64Mi
schedule: "@every 1s"
concurrency: allow
---
name: broken
image: busybox
command: ["sh", "-c", "exit 3"]
cpu: 100m
memory: 64Mi
---
name: idle
image: busybox
command: ["true"]
cpu: 100m
memory: 64Mi
schedule: "@every 1s"
`)
		if out, errOut, code := s.cli("apply", "-f", jobs); code != 0 {
			t.Fatalf("apply: exit %d %s %s", code, out, errOut)
		}
		if out, errOut, code := s.cli("suspend", "idle"); code != 0 {
			t.Fatalf("suspend: exit %d %s %s", code, out, errOut)
		}
		var r job.Run
		if status := s.api("POST", "/api/v1/jobs/broken/runs", "{}", &r); status != 201 {
			t.Fatalf("submit: %d", status)
		}
		s.waitTerminal(r.ID, 30*time.Second)
		// A run's counters are fed just after its end is stored: wait for them on /metrics
		// itself, not for the runs in the store.
		var before time.Time
		var m scraped
		waitFor(t, 30*time.Second, "/metrics to count three tick runs, broken's failure and a skipped idle slot", func() bool {
			before = time.Now()
			m = scrape(t, s.URL+"/metrics")
			durations := m.matching("docket_run_duration_seconds", "state", "succeeded")
			return m.sum("docket_runs_finished_total", "job", "tick", "state", "succeeded") >= 3 &&
				len(durations) == 1 && durations[0].GetHistogram().GetSampleCount() >= 3 &&
				m.sum("docket_runs_finished_total", "job", "broken") >= 1 &&
				m.sum("docket_slots_skipped_total", "job", "idle", "reason", "Suspended") >= 1
		})
		ticks := len(s.allRuns("job=tick&state=succeeded"))

		if got := m.sum("docket_runs_finished_total", "job", "broken", "state", "failed", "reason", "ExitCode"); got != 1 {
			t.Errorf("failed runs of broken: %g, want 1", got)
		}
		if got := m.sum("docket_runs_finished_total", "job", "tick", "state", "succeeded"); got > float64(ticks) {
			t.Errorf("succeeded runs of tick: %g counted, %d in the store", got, ticks)
		}
		lag := m.histogram("docket_schedule_lag_seconds")
		if lag.GetSampleCount() < 3 || lag.GetSampleSum()/float64(lag.GetSampleCount()) > 2 {
			t.Errorf("schedule lag: %d samples averaging %gs; want at least 3 under 2s", lag.GetSampleCount(), lag.GetSampleSum()/float64(lag.GetSampleCount()))
		}
		last := time.Unix(int64(m.sum("docket_job_last_success_timestamp_seconds", "job", "tick")), 0)
		if age := before.Sub(last); age < -time.Second || age > 10*time.Second {
			t.Errorf("tick's last success %v is %v before the scrape", last, age)
		}
		if got := m.sum("docket_job_last_finish_timestamp_seconds", "job", "broken", "state", "failed"); got == 0 {
			t.Error("broken has no last finish")
		}
		if _, ok := m.families["docket_runs"]; !ok {
			t.Error("no docket_runs gauge (queue depth)")
		}
		if _, ok := m.families["process_resident_memory_bytes"]; !ok {
			t.Error("no process metrics")
		}
	})
}

// scraped is a parsed /metrics page.
type scraped struct {
	t        *testing.T
	families map[string]*dto.MetricFamily
}

func scrape(t *testing.T, url string) scraped {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return scraped{t: t, families: families}
}

// matching returns the metrics of a family whose labels include the given name, value pairs.
func (s scraped) matching(name string, labels ...string) []*dto.Metric {
	var out []*dto.Metric
	for _, m := range s.families[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && have[labels[i]] == labels[i+1]
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// sum adds up the counters or gauges of a family that match labels.
func (s scraped) sum(name string, labels ...string) float64 {
	total := 0.0
	for _, m := range s.matching(name, labels...) {
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return total
}

// histogram returns the one histogram of a family that matches labels.
func (s scraped) histogram(name string, labels ...string) *dto.Histogram {
	ms := s.matching(name, labels...)
	if len(ms) != 1 {
		s.t.Fatalf("%s%v: %d series, want 1", name, labels, len(ms))
	}
	return ms[0].GetHistogram()
}
