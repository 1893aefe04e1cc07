package awsbatch

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"docket.dev/docket/internal/api"
	"docket.dev/docket/internal/auth"
	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/sqlite"
)

// BenchmarkSubmitFaces measures submissions over real HTTP to one server (SQLite store,
// tokens on): Docket's own POST /api/v1/jobs/{name}/runs with a bearer token, and AWS
// Batch's SubmitJob signed with SigV4, in the same run. Runs accepted per second, and the
// p50 and p99 latency of one.
func BenchmarkSubmitFaces(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "docket.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	keyID, secret, _ := auth.NewAWSKey()
	toks, err := auth.Parse([]byte("tokens:\n  - {name: ana, role: editor, sha256: " + auth.Hash("bearer-token") + "}\n" +
		"  - {name: ana-aws, role: editor, aws_access_key_id: " + keyID + ", aws_secret_access_key: \"" + secret + "\"}\n"))
	if err != nil {
		b.Fatal(err)
	}
	face := New(Options{Store: st, Canceller: nopCanceller{}, Limits: definition.DefaultLimits(), Tokens: toks, RateLimit: 1e9})
	srv := httptest.NewServer(api.New(api.Options{Store: st, Logger: slog.New(slog.DiscardHandler), Tokens: toks, RateLimit: 1e9, AWS: face, Limits: definition.DefaultLimits()}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	if _, _, err := st.DefinitionPut(context.Background(), mustSpec(b), time.Now().UTC()); err != nil {
		b.Fatal(err)
	}
	b.Run("docket", func(b *testing.B) {
		measure(b, func(int) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/jobs/bench/runs", strings.NewReader(`{"env":{"MODE":"bench"}}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer bearer-token")
			return r
		}, http.StatusCreated)
	})
	b.Run("aws", func(b *testing.B) {
		body := `{"jobName": "bench", "jobQueue": "default", "jobDefinition": "bench", "containerOverrides": {"environment": [{"name": "MODE", "value": "bench"}]}}`
		measure(b, func(int) *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/submitjob", strings.NewReader(body))
			r.Host = host
			r.Header.Set("Content-Type", "application/json")
			amzDate := time.Now().UTC().Format("20060102T150405Z")
			r.Header.Set("X-Amz-Date", amzDate)
			s := signature{keyID: keyID, date: amzDate[:8], region: "us-east-1", service: "batch", signed: []string{"content-type", "host", "x-amz-date"}}
			sig := sign(secret, s, stringToSign(r, []byte(body), s, amzDate))
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+keyID+"/"+s.date+"/us-east-1/batch/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="+hex.EncodeToString(sig))
			return r
		}, http.StatusOK)
	})
}

func mustSpec(b *testing.B) job.Spec {
	spec, err := definition.Normalize(job.Spec{Name: "bench", Image: "busybox", Command: []string{"echo", "hi"}, CPU: "1", Memory: "64Mi"}, definition.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	return spec
}

// measure sends b.N requests from 4 goroutines per CPU over a keep-alive client and
// reports runs per second and the p50 and p99 latency of one.
func measure(b *testing.B, request func(i int) *http.Request, status int) {
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
			req := request(int(n.Add(1)))
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
		b.ReportMetric(float64(n)/elapsed.Seconds(), "runs/s")
		b.ReportMetric(float64(latencies[n/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[n*99/100].Microseconds())/1000, "p99-ms")
	}
}
