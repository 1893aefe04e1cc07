package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/execute/executetest"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/postgres/pgtest"
)

// BenchmarkProcessThroughput measures a whole server on the embedded default: b.N runs of
// a no-op command (true) submitted at once, from queued to succeeded.
func BenchmarkProcessThroughput(b *testing.B) {
	processThroughput(b, "", 1, 0)
}

// BenchmarkProcessThroughputPostgres is BenchmarkProcessThroughput on PostgreSQL
// (DOCKET_TEST_POSTGRES), the process executor and every other default alike.
func BenchmarkProcessThroughputPostgres(b *testing.B) {
	processThroughput(b, pgtest.URL(b), 1, 0)
}

// BenchmarkQueuesThroughput is BenchmarkProcessThroughput with the runs spread over 50
// jobs, each in a queue of its own with a max_running and a start rate that the runs do
// not reach, beside the same runs of 50 jobs in the default queue: what counting queues'
// limits costs the dispatch of runs. On SQLite, and on PostgreSQL when
// DOCKET_TEST_POSTGRES is set.
func BenchmarkQueuesThroughput(b *testing.B) {
	stores := map[string]func(testing.TB) string{"sqlite": func(testing.TB) string { return "" }, "postgres": pgtest.URL}
	for _, store := range []string{"sqlite", "postgres"} {
		for _, queues := range []int{0, 50} {
			b.Run(fmt.Sprintf("%s/queues=%d", store, queues), func(b *testing.B) {
				processThroughput(b, stores[store](b), 50, queues)
			})
		}
	}
}

// benchServer runs a server on its defaults, on databaseURL ("" the embedded default),
// until the benchmark ends, and returns a client of it.
func benchServer(b *testing.B, databaseURL string) (context.Context, *client.Client) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = b.TempDir()
	cfg.DatabaseURL = databaseURL
	cfg.Logger = slog.New(slog.DiscardHandler)
	if p, err := strconv.Atoi(os.Getenv("DOCKET_BENCH_PARALLELISM")); err == nil && p > 0 {
		cfg.Parallelism = p // another --parallelism than the default's 8
	}
	ready := make(chan string, 1)
	cfg.Ready = func(addr string) { ready <- addr }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	})
	select {
	case addr := <-ready:
		return ctx, client.New("http://" + addr)
	case err := <-done:
		b.Fatal(err)
	}
	return nil, nil
}

// processThroughput runs b.N no-op runs through a server on databaseURL ("" the embedded
// default), round-robin over jobs jobs; with queues > 0, the jobs name that many queues in
// turn, each with limits the runs do not reach.
func processThroughput(b *testing.B, databaseURL string, jobs, queues int) {
	ctx, c := benchServer(b, databaseURL)
	names := []string{"noop"}
	if jobs > 1 {
		names = names[:0]
		for i := range jobs {
			names = append(names, fmt.Sprintf("noop-%02d", i))
		}
	}
	for i, name := range names {
		def := fmt.Sprintf("name: %s\nimage: busybox\ncommand: [\"true\"]\ncpu: 100m\nmemory: 16Mi\nconcurrency: allow\n", name)
		if queues > 0 {
			q := fmt.Sprintf("q%02d", i%queues)
			if _, err := c.ApplyQueue(ctx, q, []byte(fmt.Sprintf(`{"max_running": 8, "max_starts_per_second": 10000, "priority": %d}`, i%3))); err != nil {
				b.Fatal(err)
			}
			def += "queue: " + q + "\n"
		}
		if _, err := c.ApplyJob(ctx, name, []byte(def)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu0 := cpuTime(syscall.RUSAGE_SELF)
	start := time.Now()
	for i := range b.N {
		if _, _, err := c.SubmitRun(ctx, names[i%len(names)], client.RunRequest{}, ""); err != nil {
			b.Fatal(err)
		}
	}
	// Polled with a one-run page of the unfinished ones, so the polling costs the store
	// little; the runs are counted once, at the end.
	unfinished := client.RunFilter{States: []string{"queued", "dispatched", "pending", "running"}, Limit: 1}
	for {
		runs, _, err := c.Runs(ctx, unfinished)
		if err != nil {
			b.Fatal(err)
		}
		if len(runs) == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	// This process is the server and the client submitting and polling; the keepers are
	// its children, and the commands theirs.
	reportCPU(b, "server", cpuTime(syscall.RUSAGE_SELF)-cpu0)
	keepers, commands := executetest.ChildrenCPU()
	reportCPU(b, "keepers", keepers)
	reportCPU(b, "commands", commands)
	b.StopTimer()
	n, running := countDone(ctx, b, c)
	if n != b.N {
		b.Fatalf("%d runs finished; want %d", n, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "runs/s")
	// How many of the slots (--parallelism) held a running command, on average: the rest
	// of their time went to claiming, recording, and starting the commands (the keepers'
	// fork and exec).
	b.ReportMetric(running.Seconds()/elapsed.Seconds(), "running-slots")
}

// BenchmarkOSExec is the yardstick for BenchmarkProcessThroughput: b.N runs of the same
// no-op command (true) with Go's os/exec alone, 8 at a time (the server's default
// parallelism), each started and waited for.
func BenchmarkOSExec(b *testing.B) {
	path, err := exec.LookPath("true")
	if err != nil {
		b.Fatal(err)
	}
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	self0, commands0 := cpuTime(syscall.RUSAGE_SELF), cpuTime(syscall.RUSAGE_CHILDREN)
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for range jobs {
				if err := exec.Command(path).Run(); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for range b.N {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	reportCPU(b, "self", cpuTime(syscall.RUSAGE_SELF)-self0)
	reportCPU(b, "commands", cpuTime(syscall.RUSAGE_CHILDREN)-commands0)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
}

// countDone counts the finished runs, across pages, and adds up how long their commands
// ran (started to finished); any that did not succeed fails the benchmark.
func countDone(ctx context.Context, b *testing.B, c *client.Client) (n int, running time.Duration) {
	cursor := ""
	for {
		runs, next, err := c.Runs(ctx, client.RunFilter{Limit: 1000, Cursor: cursor})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range runs {
			if r.State.Terminal() {
				n++
				if r.State != job.StateSucceeded {
					b.Fatalf("run %s %s: %s", r.ID, r.State, r.Message)
				}
				if r.StartedAt != nil && r.FinishedAt != nil {
					running += r.FinishedAt.Sub(*r.StartedAt)
				}
			}
		}
		if next == "" {
			return n, running
		}
		cursor = next
	}
}

// reportCPU reports CPU time d spent by who, in microseconds per run.
func reportCPU(b *testing.B, who string, d time.Duration) {
	b.ReportMetric(float64(d.Microseconds())/float64(b.N), who+"-cpu-us/run")
}

// cpuTime is the user and system CPU time getrusage(2) gives for who.
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
