package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
)

// TestJobSeries reads a job's series in one request: its runs oldest first with duration,
// lag and metrics, group runs as runs, bounded by limit, window and metric names, with the
// checks every read has.
func TestJobSeries(t *testing.T) {
	t.Parallel()
	f, secrets := setupAuth(t)
	viewer := []string{"Authorization", "Bearer " + secrets["viewer"]}
	f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob, "Authorization", "Bearer "+secrets["admin"])
	ctx := context.Background()
	at := func(h int) time.Time { return f.now.Add(time.Duration(h-10) * time.Hour) }
	// Ten scheduled runs an hour apart, each started 2s after its slot and taking 10s+h;
	// every third failed; each reported records_read, the even ones also loss, and run 9
	// 25 names beside.
	var ids []string
	for h := range 10 {
		slot := at(h)
		started, finished := slot.Add(2*time.Second), slot.Add(time.Duration(12+h)*time.Second)
		// An id of the slot's time, whatever ids this process made before.
		id := job.RunIDFloor(slot)[:14] + fmt.Sprintf("7000-8000-%012x", h)
		r := job.Run{ID: id, Job: "nightly", Revision: 1, State: job.StateRunning, Trigger: job.TriggerSchedule,
			ScheduledTime: &slot, Attempt: 1, NotBefore: slot, CreatedAt: slot, StartedAt: &started}
		if _, _, err := f.store.RunCreate(ctx, r, r.FirstEvent()); err != nil {
			t.Fatal(err)
		}
		metrics := map[string]float64{"records_read": float64(1000 + h)}
		if h%2 == 0 {
			metrics["loss"] = 1 / float64(h+1)
		}
		if h == 9 {
			for i := range 25 {
				metrics[fmt.Sprintf("extra_%02d", i)] = float64(i)
			}
		}
		if _, err := f.store.ReportPut(ctx, job.Report{RunID: r.ID, Metrics: metrics, UpdatedAt: started}); err != nil {
			t.Fatal(err)
		}
		to := job.StateSucceeded
		if h%3 == 0 {
			to = job.StateFailed
		}
		if _, err := f.store.RunTransition(ctx, job.Transition{RunID: r.ID, From: job.StateRunning, To: to, Time: finished, Reason: "Done"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	// A run of another job is no point of this one.
	f.call(t, "PUT", "/api/v1/jobs/other", "application/yaml", strings.Replace(goodJob, "name: nightly", "name: other", 1), "Authorization", "Bearer "+secrets["admin"])
	other := job.NewRun("other", 1, job.TriggerAPI, at(5))
	if _, _, err := f.store.RunCreate(ctx, other, other.FirstEvent()); err != nil {
		t.Fatal(err)
	}

	get := func(query string) (int, seriesView, string) {
		t.Helper()
		status, body := f.call(t, "GET", "/api/v1/jobs/nightly/series"+query, "", "", viewer...)
		var v seriesView
		if status == http.StatusOK {
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
		}
		return status, v, string(body)
	}
	status, v, body := get("")
	if status != 200 || len(v.Runs) != 10 || v.More {
		t.Fatalf("series: %d, %d runs, more %v: %s", status, len(v.Runs), v.More, body)
	}
	first, last := v.Runs[0], v.Runs[9]
	if first.ID != ids[0] || last.ID != ids[9] {
		t.Errorf("runs go from %s to %s; want oldest first, %s to %s", first.ID, last.ID, ids[0], ids[9])
	}
	if first.State != job.StateFailed || *first.DurationSeconds != 10 || *first.LagSeconds != 2 || last.State != job.StateFailed || *last.DurationSeconds != 19 {
		t.Errorf("first point %+v, last %+v", first, last)
	}
	// records_read (10 runs) and loss (5) come first, then 18 of the 25 names run 9 alone reported.
	if len(v.Metrics) != maxSeriesMetrics || v.Metrics[0] != "records_read" || v.Metrics[1] != "loss" || v.Metrics[2] != "extra_00" || v.MetricsOmitted != 7 {
		t.Errorf("metrics %v, %d omitted", v.Metrics, v.MetricsOmitted)
	}
	if diff := cmp.Diff(map[string]float64{"records_read": 1000, "loss": 1}, first.Metrics); diff != "" {
		t.Errorf("first run's metrics (-want +got):\n%s", diff)
	}
	if len(last.Metrics) != maxSeriesMetrics-1 {
		t.Errorf("the last run has %d metrics; want the %d charted names it reported", len(last.Metrics), maxSeriesMetrics-1)
	}

	// A limit takes the newest; a window and metric names narrow.
	_, v, _ = get("?limit=3&metric=loss&metric=loss")
	if len(v.Runs) != 3 || v.Runs[0].ID != ids[7] || !v.More || !cmp.Equal(v.Metrics, []string{"loss"}) || v.Runs[0].Metrics != nil || v.Runs[1].Metrics["loss"] != 1.0/9 {
		t.Errorf("limit 3, loss: %+v", v)
	}
	window := fmt.Sprintf("?since=%s&until=%s", at(2).Format(time.RFC3339), at(5).Format(time.RFC3339))
	_, v, _ = get(window)
	if len(v.Runs) != 3 || v.Runs[0].ID != ids[2] || v.Runs[2].ID != ids[4] || v.More {
		t.Errorf("window %s: %+v", window, v)
	}

	// A group run is a point; its tasks are not. It has no duration until it ends.
	// (Made in the store: the definition decoder may not take arrays yet.)
	def, err := f.store.DefinitionGet(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	def.Tasks = 3
	arr := job.NewRun("other", 1, job.TriggerAPI, at(6))
	children, events := group.Expand(&arr, def.Spec, def.Tasks, nil)
	if _, _, err := f.store.RunCreateGroup(ctx, arr, children, append([]job.Event{arr.FirstEvent()}, events...)); err != nil || len(children) != 3 {
		t.Fatalf("create an array run: %v", err)
	}
	status, body2 := f.call(t, "GET", "/api/v1/jobs/other/series", "", "", viewer...)
	var av seriesView
	if err := json.Unmarshal(body2, &av); err != nil || status != 200 || len(av.Runs) != 2 || av.Runs[1].ID != arr.ID || av.Runs[1].Kind != job.KindArray || av.Runs[1].DurationSeconds != nil {
		t.Errorf("series of a job with one group run: %d %s", status, body2)
	}

	for _, tt := range []struct {
		name, query string
		header      []string
		status      int
		field       string
	}{
		{"no token", "", nil, 401, ""},
		{"limit 0", "?limit=0", viewer, 400, "limit"},
		{"limit too large", "?limit=1000", viewer, 400, "limit"},
		{"limit not a number", "?limit=all", viewer, 400, "limit"},
		{"since not a time", "?since=yesterday", viewer, 400, "since"},
		{"until before since", window[:len("?since=")+20] + "&until=" + at(1).Format(time.RFC3339), viewer, 400, "until"},
		{"bad metric name", "?metric=" + strings.Repeat("x", 101), viewer, 400, "metric"},
		{"too many metrics", "?metric=a" + strings.Repeat("&metric=a", maxSeriesMetrics), viewer, 400, "metric"},
	} {
		status, body := f.call(t, "GET", "/api/v1/jobs/nightly/series"+tt.query, "", "", tt.header...)
		var e errorBody
		_ = json.Unmarshal(body, &e)
		if status != tt.status || e.Error.Field != tt.field || len(body) > 1000 {
			t.Errorf("%s: %d %s; want %d naming %q", tt.name, status, body, tt.status, tt.field)
		}
	}
	if status, body := f.call(t, "GET", "/api/v1/jobs/absent/series", "", "", viewer...); status != 404 || !strings.Contains(string(body), `job \"absent\" not found`) {
		t.Errorf("series of an absent job: %d %s", status, body)
	}
}
