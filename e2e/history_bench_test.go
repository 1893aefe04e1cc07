package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/postgres"
	"docket.dev/docket/internal/store/postgres/pgtest"
	"docket.dev/docket/internal/store/sqlite"
)

// BenchmarkHistory measures a server holding a large history: 10,000 definitions and
// 1,000,000 finished runs (DOCKET_BENCH_DEFINITIONS and DOCKET_BENCH_RUNS change the
// sizes), on each store. It seeds the store through the store's own seam, starts the real
// docket binary on it, times GET /api/v1/runs with the filters people use, GET
// /api/v1/jobs and a scrape of /metrics, and reports the server's resident memory, next to
// that of the same server on an empty store.
//
//	go test -run '^$' -bench BenchmarkHistory -benchtime 200x -timeout 60m ./e2e
func BenchmarkHistory(b *testing.B) {
	defs, runs := benchSize(b, "DOCKET_BENCH_DEFINITIONS", 10_000), benchSize(b, "DOCKET_BENCH_RUNS", 1_000_000)
	b.Run("sqlite", func(b *testing.B) {
		dir := b.TempDir()
		benchHistory(b, dir+"/empty", nil, func() store.Store {
			if err := os.MkdirAll(dir+"/data", 0o755); err != nil {
				b.Fatal(err)
			}
			st, err := sqlite.Open(context.Background(), filepath.Join(dir, "data", "docket.db"))
			if err != nil {
				b.Fatal(err)
			}
			return st
		}, dir+"/data", defs, runs)
	})
	b.Run("postgres", func(b *testing.B) {
		url := pgtest.URL(b)
		dir := b.TempDir()
		benchHistory(b, dir+"/empty", []string{"--database-url", pgtest.URL(b)}, func() store.Store {
			st, err := postgres.Open(context.Background(), url)
			if err != nil {
				b.Fatal(err)
			}
			return st
		}, dir+"/data", defs, runs, "--database-url", url)
	})
}

func benchSize(b *testing.B, env string, def int) int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", env, v)
	}
	return n
}

func benchHistory(b *testing.B, emptyDir string, emptyFlags []string, open func() store.Store, dataDir string, defs, runs int, flags ...string) {
	// The scheduler ticks each second, as in production (it reads only the jobs due).
	serverFlags := []string{"--schedule-interval", "1s"}
	empty := startServer(b, emptyDir, append(emptyFlags, serverFlags...)...)
	time.Sleep(3 * time.Second)
	emptyRSS, _ := memory(b, empty.cmd.Process.Pid)
	empty.Stop()

	st := open()
	start := time.Now()
	middle := seedHistory(b, st, defs, runs)
	seeded := time.Since(start)
	st.Close()
	fmt.Fprintf(os.Stderr, "seeded %d definitions and %d runs in %v\n", defs, runs, seeded.Round(time.Second))

	s := startServer(b, dataDir, append(flags, serverFlags...)...)
	time.Sleep(3 * time.Second) // a few scheduler passes (the first works out every due time)
	idleRSS, _ := memory(b, s.cmd.Process.Pid)
	probe := fmt.Sprintf("job-%05d", defs/2)
	perJob := runs / defs
	for _, q := range []struct {
		name, query string
		want        int
	}{
		{"newest", "", 50},
		{"job", "job=" + probe, min(50, perJob)},
		{"state", "state=failed", 50},
		{"job_state", "job=" + probe + "&state=failed", min(50, perJob/10)},
		{"active", "state=queued,dispatched,pending,running", 0},
		{"deep_page", "cursor=" + middle, 50},
		{"limit_1000", "limit=1000", 1000},
		{"jobs", "", min(defs, 1000)},
		{"jobs_page", fmt.Sprintf("limit=100&recent=12&cursor=job-%05d", defs/2), min(100, defs-defs/2-1)},
	} {
		b.Run("list_"+q.name, func(b *testing.B) {
			path := "/api/v1/runs?" + q.query
			var page struct {
				Runs []job.Run `json:"runs"`
				Jobs []struct {
					LastRun *job.Run `json:"last_run"`
				} `json:"jobs"`
			}
			got := func() int { return len(page.Runs) }
			switch q.name {
			case "jobs":
				// A page of 1,000 jobs (all there are, up to that), each with its next slot
				// and its newest run: what GET /api/v1/jobs answers without parameters.
				path = "/api/v1/jobs"
				got = func() int { return len(page.Jobs) }
			case "jobs_page":
				// A page of jobs with their recent runs, as the web UI's jobs page asks.
				path = "/api/v1/jobs?" + q.query
				got = func() int { return len(page.Jobs) }
			}
			if status := s.api("GET", path, "", &page); status != 200 || got() != q.want {
				b.Fatalf("GET %s: status %d, %d items; want 200 and %d", path, status, got(), q.want)
			}
			for _, j := range page.Jobs {
				if j.LastRun == nil {
					b.Fatalf("GET %s: a job without its last run", path)
				}
			}
			timeGets(b, s.URL+path)
		})
	}
	b.Run("scrape_metrics", func(b *testing.B) {
		// What Prometheus reads every scrape: per-job gauges for every job (last success,
		// last finish) and run counts by state, read from the store by the first scrape
		// (first-ms); the scrapes after it, one after another, are paced (an answer serves
		// the same request for nine times as long as it took to make: metrics.Paced).
		t := time.Now()
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("docket_job_last_success_timestamp_seconds{job=%q}", probe); !strings.Contains(string(body), want) {
			b.Fatalf("/metrics (status %d, %d bytes) lacks %s", resp.StatusCode, len(body), want)
		}
		first := time.Since(t)
		timeGets(b, s.URL+"/metrics")
		b.ReportMetric(ms(first), "first-ms")
		b.ReportMetric(float64(len(body))/1e6, "MB")
	})
	b.Run("rss", func(b *testing.B) {
		// Resident memory with the history loaded and the scheduler going, then after the
		// listing benchmarks.
		rss, peak := memory(b, s.cmd.Process.Pid)
		b.ReportMetric(emptyRSS, "empty-store-rss-MiB")
		b.ReportMetric(idleRSS, "idle-rss-MiB")
		b.ReportMetric(rss, "after-lists-rss-MiB")
		b.ReportMetric(peak, "peak-rss-MiB")
		b.ReportMetric(float64(runs)/seeded.Seconds(), "seeded-runs/s")
	})
	s.Stop()
}

// timeGets times b.N GET requests of url, one at a time, and reports their p50 and p99.
func timeGets(b *testing.B, url string) {
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took = append(took, time.Since(t))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*99/100]), "p99-ms")
}

// seedHistory stores defs definitions that never fire during the benchmark and runs
// finished runs spread over them, an hour apart per job, 10% failed, each with its
// first event. Run ids follow time across jobs, as they do in life. It returns the id
// of the run in the middle.
func seedHistory(tb testing.TB, st store.Store, defs, runs int) string {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Hour)
	perJob := runs / defs
	ids := make([][]string, defs)
	for i := range ids {
		ids[i] = make([]string, perJob)
	}
	for k := range perJob {
		for i := range defs {
			ids[i][k] = job.NewRunID(now.Add(-time.Duration(perJob-k) * time.Hour))
		}
	}
	for i := range defs {
		name := fmt.Sprintf("job-%05d", i)
		d, _, err := st.DefinitionPut(ctx, job.Spec{
			Name: name, Image: "registry.example.com/team/" + name + ":1", Command: []string{"python", "main.py"},
			CPU: "500m", Memory: "512Mi", Schedule: "0 3 1 1 *", Timezone: "UTC",
			Concurrency: job.ConcurrencyForbid, Catchup: job.CatchupLatest, Deadline: job.Duration(time.Hour),
			Env: map[string]string{"MODE": "full"},
		}, now)
		if err != nil {
			tb.Fatal(err)
		}
		rs, evs := make([]job.Run, perJob), make([]job.Event, perJob)
		for k := range perJob {
			slot := now.Add(-time.Duration(perJob-k) * time.Hour)
			started, finished, code := slot.Add(2*time.Second), slot.Add(90*time.Second), 0
			r := job.Run{
				ID: ids[i][k], Job: name, Revision: d.Revision, State: job.StateSucceeded, Trigger: job.TriggerSchedule,
				ScheduledTime: &slot, Attempt: 1, NotBefore: slot, CreatedAt: slot, StartedAt: &started,
				FinishedAt: &finished, Reason: "Completed", Message: "exited with code 0", Executor: "process",
			}
			if (i+k)%10 == 0 {
				code = 1
				r.State, r.Reason, r.Message = job.StateFailed, "Error", "exited with code 1"
			}
			r.ExitCode = &code
			rs[k] = r
			evs[k] = job.Event{RunID: r.ID, Time: finished, State: r.State, Reason: r.Reason, Message: r.Message}
		}
		if _, err := st.SlotsRecord(ctx, store.Fence{}, []store.Slots{{Job: name, From: d.ScheduledThrough, Through: d.ScheduledThrough, Next: d.NextDue, Runs: rs, Events: evs}}); err != nil {
			tb.Fatal(err)
		}
		if (i+1)%1000 == 0 {
			fmt.Fprintf(os.Stderr, "seeded %d of %d definitions\n", i+1, defs)
		}
	}
	return ids[defs/2][perJob/2]
}

// memory returns a process's resident and peak resident memory in MiB.
func memory(b *testing.B, pid int) (rss, peak float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
