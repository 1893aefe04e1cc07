package server

import (
	"testing"
	"time"

	"docket.dev/docket/internal/client"
)

// BenchmarkArrayThroughput is BenchmarkProcessThroughput for one array of b.N no-op
// tasks, submitted in one request: tasks per second from the submission to the array's
// end. Beside it, BenchmarkProcessThroughput's b.N separate runs give the overhead an
// array saves (or adds) per task.
//
//	go test -run '^$' -bench 'BenchmarkArrayThroughput|BenchmarkProcessThroughput' -benchtime 10000x ./internal/server/
func BenchmarkArrayThroughput(b *testing.B) {
	ctx, c := benchServer(b, "")
	def := []byte("name: noop\nimage: busybox\ncommand: [\"true\"]\ncpu: 100m\nmemory: 16Mi\nconcurrency: allow\n")
	if _, err := c.ApplyJob(ctx, "noop", def); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	run, _, err := c.SubmitRun(ctx, "noop", client.RunRequest{Tasks: b.N}, "")
	if err != nil {
		b.Fatal(err)
	}
	var res client.Results
	for {
		if res, err = c.Results(ctx, run.ID, -1, 0); err != nil {
			b.Fatal(err)
		}
		if res.State.Terminal() {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if res.Progress.Succeeded != b.N {
		b.Fatalf("%d tasks succeeded; want %d (%+v)", res.Progress.Succeeded, b.N, res.Progress)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
}
