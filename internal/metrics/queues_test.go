package metrics

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/sqlite"
)

func TestQueueCollector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	if _, _, err := st.QueuePut(ctx, job.Queue{Name: "gpu", MaxRunning: 1, MaxStartsPerSecond: 0.5}, now); err != nil {
		t.Fatal(err)
	}
	for i, queue := range []string{"gpu", "gpu", ""} {
		r := job.NewRun("train", 1, job.TriggerAPI, now.Add(time.Duration(i)*time.Millisecond))
		r.Queue = queue
		if _, _, err := st.RunCreate(ctx, r, r.FirstEvent()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RunClaim(ctx, "w", now.Add(time.Second), 10); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.QueuePut(ctx, job.Queue{Name: "gpu", MaxRunning: 1, MaxStartsPerSecond: 0.5, Disabled: true}, now); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewQueueCollector(st, slog.New(slog.DiscardHandler), time.Second))
	want := `
# HELP docket_queue_disabled 1 for a disabled queue, whose queued runs are not claimed; 0 for an enabled one.
# TYPE docket_queue_disabled gauge
docket_queue_disabled{queue="gpu"} 1
# HELP docket_queue_limit Each queue's limits: max_running (runs at once) and max_starts_per_second; 0 is no cap.
# TYPE docket_queue_limit gauge
docket_queue_limit{limit="max_running",queue="gpu"} 1
docket_queue_limit{limit="max_starts_per_second",queue="gpu"} 0.5
# HELP docket_queue_queued Runs of each queue waiting to be claimed.
# TYPE docket_queue_queued gauge
docket_queue_queued{queue=""} 0
docket_queue_queued{queue="gpu"} 1
# HELP docket_queue_running Runs of each queue that are dispatched, pending or running (the default queue is queue="").
# TYPE docket_queue_running gauge
docket_queue_running{queue=""} 1
docket_queue_running{queue="gpu"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
