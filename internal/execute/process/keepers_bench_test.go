package process

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"docket.dev/docket/internal/execute/executetest"
)

// BenchmarkKeepers measures the keepers' own CPU per run (their commands' excluded) when
// runs of true come one every 5 ms, at most 8 at a time: the pace of a busy server on a
// small machine, where each keeper waits about 40 ms between runs. The keepers are
// started before the timing.
func BenchmarkKeepers(b *testing.B) {
	path, err := exec.LookPath("true")
	if err != nil {
		b.Fatal(err)
	}
	rec := executetest.New()
	e := New(Options{Reporter: rec, Logs: rec, WorkDir: b.TempDir(), KillGrace: time.Second})
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	defer func() { stop(); <-ran }() // the keepers end with it
	const room = 8
	run := func(id string) {
		if err := e.Start(context.Background(), execution(id, time.Minute, path)); err != nil {
			b.Fatal(err)
		}
	}
	for i := range room {
		run(fmt.Sprintf("warm%d", i))
	}
	for range room {
		rec.Finish(b, time.Minute)
	}
	b.ResetTimer()
	cpu0, _ := executetest.ChildrenCPU()
	free := make(chan struct{}, room)
	for range room {
		free <- struct{}{}
	}
	done := make(chan struct{})
	go func() {
		for range b.N {
			rec.Finish(b, time.Minute)
			free <- struct{}{}
		}
		close(done)
	}()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := range b.N {
		<-tick.C
		<-free
		run(fmt.Sprintf("r%d", i))
	}
	<-done
	cpu, _ := executetest.ChildrenCPU()
	b.ReportMetric(float64((cpu-cpu0).Microseconds())/float64(b.N), "keepers-cpu-us/run")
}
