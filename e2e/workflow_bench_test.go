package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

// chainFile is a workflow of n steps, each needing the one before it, each running true.
func chainFile(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nimage: busybox\ncommand: [\"true\"]\ncpu: 10m\nmemory: 8Mi\nconcurrency: allow\nsteps:\n", name)
	for i := range n {
		fmt.Fprintf(&b, "  - {name: s%d", i)
		if i > 0 {
			fmt.Fprintf(&b, ", needs: [s%d]", i-1)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// fanFile is a workflow of n steps: one, then n-2 that need it, then one that needs them all.
func fanFile(name string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: %s\nimage: busybox\ncommand: [\"true\"]\ncpu: 10m\nmemory: 8Mi\nconcurrency: allow\nsteps:\n  - {name: root}\n", name)
	var mid []string
	for i := range n - 2 {
		fmt.Fprintf(&b, "  - {name: m%d, needs: [root]}\n", i)
		mid = append(mid, fmt.Sprintf("m%d", i))
	}
	fmt.Fprintf(&b, "  - {name: sink, needs: [%s]}\n", strings.Join(mid, ", "))
	return b.String()
}

// BenchmarkWorkflow measures workflows on the process executor, each step running true:
// a 100-step chain (the time from a step's end to the next step running, and the whole
// chain) beside 100 independent runs of a job that runs one at a time (concurrency:
// forbid), and a 1,000-step fan-out then fan-in (its time and the server's memory).
func BenchmarkWorkflow(b *testing.B) {
	b.Run("chain-100", func(b *testing.B) {
		dir := b.TempDir()
		s := startServer(b, filepath.Join(dir, "data"), "--executor", "process")
		if _, stderr, code := s.cli("apply", "-f", writeFile(b, dir, "chain.yaml", chainFile("chain", 100))); code != 0 {
			b.Fatalf("apply: %s", stderr)
		}
		var gaps []time.Duration
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			wf := s.waitTerminal(s.submit("chain").ID, 5*time.Minute)
			total += time.Since(start)
			if wf.State != job.StateSucceeded {
				b.Fatalf("chain %s: %s", wf.State, wf.Message)
			}
			steps := group.Latest(s.allRuns("parent=" + wf.ID))
			for i := 1; i < 100; i++ {
				prev, cur := steps[fmt.Sprintf("s%d", i-1)], steps[fmt.Sprintf("s%d", i)]
				gaps = append(gaps, cur.StartedAt.Sub(*prev.FinishedAt))
			}
		}
		slices.Sort(gaps)
		b.ReportMetric(ms(gaps[len(gaps)/2]), "step-gap-p50-ms")
		b.ReportMetric(ms(gaps[len(gaps)*99/100]), "step-gap-p99-ms")
		b.ReportMetric(total.Seconds()/float64(b.N), "chain-s")
	})
	b.Run("independent-100", func(b *testing.B) {
		dir := b.TempDir()
		s := startServer(b, filepath.Join(dir, "data"), "--executor", "process")
		def := "name: one\nimage: busybox\ncommand: [\"true\"]\ncpu: 10m\nmemory: 8Mi\nconcurrency: forbid\n"
		if _, stderr, code := s.cli("apply", "-f", writeFile(b, dir, "one.yaml", def)); code != 0 {
			b.Fatalf("apply: %s", stderr)
		}
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			for range 100 {
				s.submit("one")
			}
			runs := s.settle(5 * time.Minute)
			total += time.Since(start)
			for _, r := range runs {
				if r.State != job.StateSucceeded {
					b.Fatalf("run %s: %s", r.State, r.Message)
				}
			}
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "100-runs-s")
	})
	b.Run("fan-1000", func(b *testing.B) {
		dir := b.TempDir()
		s := startServer(b, filepath.Join(dir, "data"), "--executor", "process", "--max-steps", "1000")
		if _, stderr, code := s.cli("apply", "-f", writeFile(b, dir, "fan.yaml", fanFile("fan", 1000))); code != 0 {
			b.Fatalf("apply: %s", stderr)
		}
		var total time.Duration
		for b.Loop() {
			start := time.Now()
			wf := s.waitTerminal(s.submit("fan").ID, 10*time.Minute)
			total += time.Since(start)
			if wf.State != job.StateSucceeded {
				b.Fatalf("fan %s: %s", wf.State, wf.Message)
			}
		}
		rss, peak := memory(b, s.cmd.Process.Pid)
		b.ReportMetric(total.Seconds()/float64(b.N), "workflow-s")
		b.ReportMetric(rss, "rss-MiB")
		b.ReportMetric(peak, "peak-rss-MiB")
	})
}
