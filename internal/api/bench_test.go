package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// BenchmarkSubmit measures POST /api/v1/jobs/{name}/runs over real HTTP, on the SQLite
// store and on PostgreSQL (when DOCKET_TEST_POSTGRES names a server) in the same run: runs
// accepted per second, and the p50 and p99 latency of one submission.
func BenchmarkSubmit(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkSubmit(b, setup(b)) })
	b.Run("postgres", func(b *testing.B) { benchmarkSubmit(b, setupWith(b, pgtest.Open(b))) })
}

func benchmarkSubmit(b *testing.B, f *fixture) {
	if status, body := f.call(b, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); status != http.StatusCreated {
		b.Fatalf("PUT: %d %s", status, body)
	}
	url := f.srv.URL + "/api/v1/jobs/nightly/runs"
	measure(b, "runs/s", http.StatusCreated, func(int) (*http.Request, error) {
		req, err := http.NewRequest("POST", url, strings.NewReader(`{"env":{"MODE":"bench"}}`))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
}

// BenchmarkReport measures POST /api/v1/runs/{id}/report as jobs send it: 100 running
// runs, each reporting two metrics with its own run token, on both stores.
func BenchmarkReport(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkReport(b, setup(b)) })
	b.Run("postgres", func(b *testing.B) { benchmarkReport(b, setupWith(b, pgtest.Open(b))) })
}

func benchmarkReport(b *testing.B, f *fixture) {
	tokens := auth.NewRunTokens([]byte("0123456789abcdef0123456789abcdef"))
	f.api.opts.RunTokens = tokens
	f.api.limits.Every = rate.Inf // the endpoint is measured, not the per-run limit
	if status, body := f.call(b, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); status != http.StatusCreated {
		b.Fatalf("PUT: %d %s", status, body)
	}
	var ids []string
	for i := range 100 {
		at := f.now.Add(time.Duration(i) * time.Millisecond)
		r := job.Run{ID: job.NewRunID(at), Job: "nightly", Revision: 1, State: job.StateRunning, Trigger: job.TriggerAPI, Attempt: 1, NotBefore: at, CreatedAt: at}
		if _, _, err := f.store.RunCreate(context.Background(), r, job.Event{RunID: r.ID, Time: at, State: r.State}); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	measure(b, "reports/s", http.StatusOK, func(i int) (*http.Request, error) {
		id := ids[i%len(ids)]
		req, err := http.NewRequest("POST", f.srv.URL+"/api/v1/runs/"+id+"/report",
			strings.NewReader(fmt.Sprintf(`{"metrics":{"records_read":%d,"models_updated":3}}`, i)))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+tokens.For(id))
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
}

// measure sends b.N requests from 4 goroutines per CPU over a keep-alive client, each
// expecting status, and reports how many per second (as unit) and the p50 and p99
// latency of one.
func measure(b *testing.B, unit string, status int, request func(i int) (*http.Request, error)) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		n         atomic.Int64
	)
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			req, err := request(int(n.Add(1)))
			if err != nil {
				b.Error(err)
				return
			}
			t := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != status {
				b.Errorf("status %d, want %d", resp.StatusCode, status)
				return
			}
			mine = append(mine, time.Since(t))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	if n := len(latencies); n > 0 {
		b.ReportMetric(float64(n)/elapsed.Seconds(), unit)
		b.ReportMetric(float64(latencies[n/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[n*99/100].Microseconds())/1000, "p99-ms")
	}
}

// BenchmarkListJobs measures GET /api/v1/jobs on SQLite holding 10,000 jobs with 10 runs
// each: the answer without parameters (the first 1,000 jobs), compact (the default) and
// indented (?pretty), the page of 100 jobs with 12 recent runs each that the web UI asks
// for, and every job as the docket command lists them (client.Jobs: ten pages of 1,000).
// Requests are sent one at a time.
func BenchmarkListJobs(b *testing.B) {
	f := setup(b)
	ctx := context.Background()
	for i := range 10000 {
		name := fmt.Sprintf("job-%05d", i)
		spec := job.Spec{Name: name, Image: "registry.example.com/team/" + name + ":1", Command: []string{"python", "main.py"},
			CPU: "500m", Memory: "512Mi", Schedule: "0 3 1 1 *", Timezone: "UTC", Concurrency: job.ConcurrencyForbid,
			Catchup: job.CatchupLatest, Deadline: job.Duration(time.Hour), Env: map[string]string{"MODE": "full"}}
		d, _, err := f.store.DefinitionPut(ctx, spec, f.now)
		if err != nil {
			b.Fatal(err)
		}
		var runs []job.Run
		var events []job.Event
		for k := range 10 {
			at := f.now.Add(-time.Duration(10-k) * time.Hour)
			r := job.Run{ID: job.NewRunID(at), Job: name, Revision: 1, State: job.StateSucceeded, Trigger: job.TriggerSchedule,
				ScheduledTime: &at, Attempt: 1, NotBefore: at, CreatedAt: at, FinishedAt: &at, Reason: "Completed", Message: "exited with code 0"}
			runs, events = append(runs, r), append(events, job.Event{RunID: r.ID, Time: at, State: r.State, Reason: r.Reason})
		}
		if _, err := f.store.SlotsRecord(ctx, store.Fence{}, []store.Slots{{Job: name, From: d.ScheduledThrough, Through: d.ScheduledThrough, Next: d.NextDue, Runs: runs, Events: events}}); err != nil {
			b.Fatal(err)
		}
	}
	for _, bm := range []struct{ name, query string }{
		{"first_1000", ""}, {"first_1000_pretty", "?pretty"}, {"page", "?limit=100&recent=12&cursor=job-04999"}, {"every_job", ""},
	} {
		b.Run(bm.name, func(b *testing.B) {
			var took []time.Duration
			var size int
			for range b.N {
				t := time.Now()
				if bm.name == "every_job" {
					jobs, err := client.New(f.srv.URL).Jobs(ctx)
					took = append(took, time.Since(t))
					if err != nil || len(jobs) != 10000 {
						b.Fatalf("client.Jobs: %d jobs, %v", len(jobs), err)
					}
					continue
				}
				status, body := f.call(b, "GET", "/api/v1/jobs"+bm.query, "", "")
				took = append(took, time.Since(t))
				if status != http.StatusOK {
					b.Fatalf("GET /api/v1/jobs%s: %d", bm.query, status)
				}
				size = len(body)
			}
			sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			if size > 0 {
				b.ReportMetric(float64(size)/1e6, "MB")
			}
		})
	}
}
