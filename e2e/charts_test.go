package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

// seedCharts stores a job with n hourly runs up to now, each reporting records_read and
// models_updated, every seventh failed and one cancelled, and an array run last that
// reported nothing. It returns the ids of the runs, oldest first (the array's last), and
// which failed.
func seedCharts(t *testing.T, st store.Store, name string, n int, now time.Time) ([]string, map[string]bool) {
	t.Helper()
	ctx := context.Background()
	sp := job.Spec{Name: name, Image: "registry.example.com/ds/train:1.4.2", Command: []string{"python", "train.py"},
		CPU: "1", Memory: "1Gi", Timezone: "UTC", Concurrency: job.ConcurrencyAllow, Catchup: job.CatchupNone, Deadline: job.Duration(time.Hour)}
	d, _, err := st.DefinitionPut(ctx, sp, now.Add(-time.Duration(n+1)*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	failed := map[string]bool{}
	for k := range n {
		slot := now.Add(-time.Duration(n-k) * time.Hour)
		started := slot.Add(time.Duration(1+k%4) * time.Second)
		finished := started.Add(time.Duration(40+k*2+(k%5)*9) * time.Second)
		// Ids of the slot's time, whatever ids this process made before.
		id := job.RunIDFloor(slot)[:14] + fmt.Sprintf("7000-8000-%012x", k)
		r := job.Run{ID: id, Job: name, Revision: d.Revision, State: job.StateRunning, Trigger: job.TriggerSchedule,
			ScheduledTime: &slot, Attempt: 1, NotBefore: slot, CreatedAt: slot, StartedAt: &started, Executor: "process"}
		if _, _, err := st.RunCreate(ctx, r, r.FirstEvent()); err != nil {
			t.Fatal(err)
		}
		metrics := map[string]float64{"records_read": float64(120000 + 900*k + (k%3)*4000), "models_updated": float64(k%4 + 1)}
		if _, err := st.ReportPut(ctx, job.Report{RunID: id, Metrics: metrics, UpdatedAt: finished}); err != nil {
			t.Fatal(err)
		}
		to, reason := job.StateSucceeded, job.Reason("Completed")
		switch {
		case k%7 == 3:
			to, reason, failed[id] = job.StateFailed, "Error", true
		case k == n-5:
			to, reason = job.StateCancelled, "Cancelled"
		}
		if _, err := st.RunTransition(ctx, job.Transition{RunID: id, From: job.StateRunning, To: to, Time: finished, Reason: reason, Message: "seeded"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// An array run half an hour ago that took five minutes over its three tasks: a point of
	// the duration and lag charts (its span), its tasks no points at all.
	made := now.Add(-30 * time.Minute)
	arr := job.NewRun(name, d.Revision, job.TriggerAPI, made)
	arr.ID = job.RunIDFloor(made)[:14] + "7000-8000-ffffffffffff"
	children, events := group.Expand(&arr, d.Spec, 3, nil)
	started, finished := made.Add(time.Second), made.Add(5*time.Minute)
	arr.State, arr.StartedAt, arr.FinishedAt, arr.Reason = job.StateSucceeded, &started, &finished, "Completed"
	for i := range children {
		children[i].State, children[i].StartedAt, children[i].FinishedAt = job.StateSucceeded, &started, &finished
	}
	if _, _, err := st.RunCreateGroup(ctx, arr, children, append([]job.Event{arr.FirstEvent()}, events...)); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, arr.ID)
	return ids, failed
}

// TestWebUICharts draws a job's charts in headless Chromium: duration coloured by how each
// run ended, schedule lag, and one chart per reported metric, every point a link to its
// run; a window of 24 hours shows fewer; a click on a point opens its run.
func TestWebUICharts(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "data", "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	ids, failed := seedCharts(t, st, "ui-charts", 60, now)
	st.Close()
	token, tokens := tokensFile(t, dir, "ana", "viewer")
	s := startServer(t, dir+"/data", "--tokens-file", tokens)

	// hrefs lists the links of a chart's points.
	hrefs := func(chart string) []string {
		var out []string
		if err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(
			`[...document.querySelectorAll('figure[data-chart=%q] svg a.point')].map(a => a.getAttribute("href"))`, chart), &out)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/jobs/ui-charts"),
		chromedp.WaitVisible("#login-token", chromedp.ByQuery),
		chromedp.SendKeys("#login-token", token, chromedp.ByQuery),
		chromedp.Click("#login-ok", chromedp.ByQuery),
		chromedp.WaitVisible(`figure[data-chart="duration"] svg a.point`, chromedp.ByQuery),
		chromedp.ScrollIntoView("#charts", chromedp.ByQuery),
	); err != nil {
		t.Fatalf("open the job's page: %v", err)
	}
	var want []string
	for _, id := range ids {
		want = append(want, "#/runs/"+id)
	}
	for _, tt := range []struct {
		chart string
		want  []string
	}{{"duration", want}, {"lag", want}, {"metric-records_read", want[:len(want)-1]}, {"metric-models_updated", want[:len(want)-1]}} {
		if got := hrefs(tt.chart); !slices.Equal(got, tt.want) {
			t.Errorf("chart %s links %d points (%.3v...); want %d runs, oldest first", tt.chart, len(got), got, len(tt.want))
		}
	}
	var redPoints, greenPoints int
	var caption string
	if err := step(t, ctx,
		chromedp.Evaluate(`document.querySelectorAll('figure[data-chart="duration"] circle.s-failed').length`, &redPoints),
		chromedp.Evaluate(`document.querySelectorAll('figure[data-chart="duration"] circle.s-succeeded').length`, &greenPoints),
		chromedp.Text(`figure[data-chart="duration"] figcaption`, &caption, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if redPoints != len(failed) || greenPoints != len(ids)-len(failed)-1 || !strings.Contains(caption, fmt.Sprintf("%d of %d failed", len(failed), len(ids))) {
		t.Errorf("duration chart: %d red points, %d green, caption %q; want %d failed of %d", redPoints, greenPoints, caption, len(failed), len(ids))
	}
	img := screenshot(t, ctx, "job-charts")
	if n := pixels(img, failedRed); n < 200 {
		t.Errorf("the charts show %d pixels of the failed colour; want the failed runs' points", n)
	}
	if n := pixels(img, succeededGreen); n < 1000 {
		t.Errorf("the charts show %d pixels of the succeeded colour", n)
	}

	// The last 24 hours hold the 23 newest hourly runs and the array's.
	if err := step(t, ctx,
		chromedp.SetValue("#chart-window", "1d", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#chart-window').dispatchEvent(new Event('change'))`, nil),
		chromedp.Poll(`document.querySelectorAll('figure[data-chart="duration"] svg a.point').length === 24`, nil),
	); err != nil {
		t.Fatalf("choose the last 24 hours: %v", err)
	}
	if got := hrefs("metric-records_read"); !slices.Equal(got, want[len(want)-24:len(want)-1]) {
		t.Errorf("in the last 24 hours records_read links %d points; want the 23 newest hourly runs", len(got))
	}
	screenshot(t, ctx, "job-charts-24h")

	// A point is a link to its run.
	failedID := ""
	for _, id := range slices.Backward(ids) {
		if failed[id] {
			failedID = id
			break
		}
	}
	var state string
	if err := step(t, ctx,
		chromedp.Click(fmt.Sprintf(`figure[data-chart="duration"] a[data-run=%q] circle`, failedID), chromedp.ByQuery),
		chromedp.WaitVisible(`[data-state="failed"]`, chromedp.ByQuery),
		chromedp.Evaluate(`location.hash`, &state),
	); err != nil {
		t.Fatalf("click a failed run's point: %v", err)
	}
	if state != "#/runs/"+failedID {
		t.Errorf("the click went to %s; want #/runs/%s", state, failedID)
	}
}
