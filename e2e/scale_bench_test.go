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

// BenchmarkIdle measures the real docket binary holding 50,000 hourly definitions
// (DOCKET_BENCH_DEFINITIONS changes it) between two hours, on each store: the CPU it uses
// over 30 seconds while nothing is due (the scheduler still ticks every second), then the
// latency of a one-row GET made every 10 ms for 30 seconds, each second's tick among them.
//
//	go test -run '^$' -bench BenchmarkIdle -benchtime 1x -timeout 30m ./e2e
func BenchmarkIdle(b *testing.B) {
	defs := benchSize(b, "DOCKET_BENCH_DEFINITIONS", 50_000)
	b.Run("sqlite", func(b *testing.B) {
		dir := b.TempDir()
		if err := os.MkdirAll(dir+"/data", 0o700); err != nil {
			b.Fatal(err)
		}
		st, err := sqlite.Open(context.Background(), filepath.Join(dir, "data", "docket.db"))
		if err != nil {
			b.Fatal(err)
		}
		benchIdle(b, st, dir+"/data", defs)
	})
	b.Run("postgres", func(b *testing.B) {
		url := pgtest.URL(b)
		st, err := postgres.Open(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		benchIdle(b, st, b.TempDir(), defs, "--database-url", url)
	})
}

func benchIdle(b *testing.B, st store.Store, dataDir string, defs int, flags ...string) {
	ctx := context.Background()
	now := time.Now().UTC()
	for i := range defs {
		spec := job.Spec{
			Name: fmt.Sprintf("hourly-%05d", i), Image: "busybox", Command: []string{"true"}, CPU: "100m", Memory: "64Mi",
			Schedule: "0 * * * *", Timezone: "UTC", Concurrency: job.ConcurrencyForbid, Catchup: job.CatchupLatest,
		}
		if _, _, err := st.DefinitionPut(ctx, spec, now); err != nil {
			b.Fatal(err)
		}
	}
	// One run to GET.
	probe := job.Run{ID: job.NewRunID(now), Job: "hourly-00000", Revision: 1, State: job.StateSkipped, Trigger: job.TriggerAPI,
		Attempt: 1, NotBefore: now, CreatedAt: now, FinishedAt: &now, Reason: "Suspended"}
	if _, _, err := st.RunCreate(ctx, probe, job.Event{RunID: probe.ID, Time: now, State: probe.State, Reason: probe.Reason}); err != nil {
		b.Fatal(err)
	}
	st.Close()
	// Stay clear of an hour boundary: every job fires on it.
	if left := time.Until(now.Truncate(time.Hour).Add(time.Hour)); left < 3*time.Minute {
		time.Sleep(left + 10*time.Second)
	}
	s := startServer(b, dataDir, append(flags, "--schedule-interval", "1s")...)
	defer s.Stop()
	// The first pass works out each new job's next slot (about 2.5 s of CPU for 50,000
	// jobs); the figures are of the passes after it, once the server uses under 5% of a
	// core over two seconds.
	for start, last := time.Now(), cpuTime(b, s.cmd.Process.Pid); ; {
		time.Sleep(2 * time.Second)
		now := cpuTime(b, s.cmd.Process.Pid)
		if now-last < 100*time.Millisecond {
			break
		}
		if time.Since(start) > 10*time.Minute {
			b.Fatal("the server is still busy 10 minutes after it started")
		}
		last = now
	}
	before, start := cpuTime(b, s.cmd.Process.Pid), time.Now()
	time.Sleep(30 * time.Second)
	b.ReportMetric(100*(cpuTime(b, s.cmd.Process.Pid)-before).Seconds()/time.Since(start).Seconds(), "cpu-%")
	start = time.Now()
	var took []time.Duration
	for time.Since(start) < 30*time.Second {
		t := time.Now()
		resp, err := http.Get(s.URL + "/api/v1/runs/" + probe.ID)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET run: %d", resp.StatusCode)
		}
		took = append(took, time.Since(t))
		time.Sleep(10 * time.Millisecond)
	}
	slices.Sort(took)
	b.ReportMetric(ms(took[len(took)/2]), "get-p50-ms")
	b.ReportMetric(ms(took[len(took)*99/100]), "get-p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "get-max-ms")
}

// cpuTime is the user and system CPU time a process has used, from /proc.
func cpuTime(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command (which may hold spaces) in parentheses; utime and stime
	// are the 14th and 15th fields, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkMinute runs 10,000 jobs that fire every minute (DOCKET_BENCH_DEFINITIONS
// changes it), each the no-op command true, on the embedded default (SQLite, the process
// executor, default flags), for three whole minutes after a minute to settle in, and
// reports the schedule lag (slot to the process running) over those minutes' runs and how
// many of their slots were skipped. scripts/bench-cron measures Debian's cron with the
// same 10,000 lines.
//
//	go test -run '^$' -bench BenchmarkMinute -benchtime 1x -timeout 30m ./e2e
func BenchmarkMinute(b *testing.B) {
	defs := benchSize(b, "DOCKET_BENCH_DEFINITIONS", 10_000)
	dir := b.TempDir()
	if err := os.MkdirAll(dir+"/data", 0o700); err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "data", "docket.db"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range defs {
		spec := job.Spec{
			Name: fmt.Sprintf("minutely-%05d", i), Image: "busybox", Command: []string{"true"}, CPU: "100m", Memory: "64Mi",
			Schedule: "* * * * *", Timezone: "UTC", Concurrency: job.ConcurrencyForbid, Catchup: job.CatchupLatest,
		}
		if _, _, err := st.DefinitionPut(ctx, spec, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()
	s := startServer(b, dir+"/data", "--schedule-interval", "1s")  // the default, which the harness lowers
	first := time.Now().Truncate(time.Minute).Add(2 * time.Minute) // a whole minute to settle in
	last := first.Add(2 * time.Minute)                             // three slots: first, +1m, +2m
	time.Sleep(time.Until(last.Add(time.Minute)))
	s.Stop()

	st, err = sqlite.Open(ctx, filepath.Join(dir, "data", "docket.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var (
		lags    []time.Duration
		skipped int
		slots   int
	)
	f := store.RunFilter{Limit: store.MaxLimit}
	for {
		runs, next, err := st.RunList(ctx, f)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range runs {
			if r.Trigger != job.TriggerSchedule || r.ScheduledTime.Before(first) || r.ScheduledTime.After(last) {
				continue
			}
			slots++
			switch {
			case r.State == job.StateSkipped:
				skipped++
			case r.StartedAt != nil:
				lags = append(lags, r.StartedAt.Sub(*r.ScheduledTime))
			}
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if want := 3 * defs; slots != want {
		b.Errorf("%d slots recorded in the three minutes; want %d", slots, want)
	}
	if len(lags) == 0 {
		b.Fatal("no run started")
	}
	slices.Sort(lags)
	b.ReportMetric(float64(skipped), "skipped")
	b.ReportMetric(float64(slots-skipped-len(lags)), "not-started")
	b.ReportMetric(lags[len(lags)/2].Seconds(), "lag-p50-s")
	b.ReportMetric(lags[len(lags)*99/100].Seconds(), "lag-p99-s")
	b.ReportMetric(lags[len(lags)-1].Seconds(), "lag-max-s")
}
