package api

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

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
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := f.srv.URL + "/api/v1/jobs/nightly/runs"
	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t := time.Now()
			resp, err := client.Post(url, "application/json", strings.NewReader(`{"env":{"MODE":"bench"}}`))
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Errorf("status %d", resp.StatusCode)
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
		b.ReportMetric(float64(n)/elapsed.Seconds(), "runs/s")
		b.ReportMetric(float64(latencies[n/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[n*99/100].Microseconds())/1000, "p99-ms")
	}
}
