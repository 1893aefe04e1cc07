package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// BenchmarkProcessThroughput measures a whole server on the embedded default: b.N runs of
// a no-op command (true) submitted at once, from queued to succeeded.
func BenchmarkProcessThroughput(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = b.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	ready := make(chan string, 1)
	cfg.Ready = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	var c *client.Client
	select {
	case addr := <-ready:
		c = client.New("http://" + addr)
	case err := <-done:
		b.Fatal(err)
	}
	def := []byte("name: noop\nimage: busybox\ncommand: [\"true\"]\ncpu: 100m\nmemory: 16Mi\nconcurrency: allow\n")
	if _, err := c.ApplyJob(ctx, "noop", def); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, _, err := c.SubmitRun(ctx, "noop", client.RunRequest{}, ""); err != nil {
			b.Fatal(err)
		}
	}
	for countDone(ctx, b, c) < b.N {
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
}

// countDone counts the finished runs of noop, across pages; any that did not succeed
// fails the benchmark.
func countDone(ctx context.Context, b *testing.B, c *client.Client) int {
	n, cursor := 0, ""
	for {
		runs, next, err := c.Runs(ctx, client.RunFilter{Job: "noop", Limit: 1000, Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range runs {
			if r.State.Terminal() {
				n++
				if r.State != job.StateSucceeded {
					b.Fatalf("run %s %s: %s", r.ID, r.State, r.Message)
				}
			}
		}
		if next == "" {
			return n
		}
		cursor = next
	}
}
