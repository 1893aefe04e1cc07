package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/group"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// idAt is a run id made at t, the nth of its millisecond: ids begin with their creation
// time whatever clock made them.
func idAt(t time.Time, n int) string {
	return job.RunIDFloor(t)[:14] + fmt.Sprintf("7000-8000-%012x", n)
}

// testRunSeries reads a job's chart points: its runs that are no group's child, group runs
// among them, newest first, with what they reported; bounded by a limit and a window.
func testRunSeries(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, spec("series"), t0)
	put(t, s, spec("series-other"), t0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	var ids []string
	for i := range 4 {
		r := job.Run{ID: idAt(at(i), 1), Job: "series", Revision: 1, State: job.StateRunning, Trigger: job.TriggerSchedule,
			Attempt: 1, NotBefore: at(i), CreatedAt: at(i)}
		create(t, s, r)
		if i != 2 {
			if _, err := s.ReportPut(ctx, job.Report{RunID: r.ID, Metrics: map[string]float64{"records_read": float64(100 * i)}, UpdatedAt: at(i)}); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, r.ID)
		create(t, s, job.Run{ID: idAt(at(i), 2), Job: "series-other", Revision: 1, State: job.StateQueued, Trigger: job.TriggerAPI,
			Attempt: 1, NotBefore: at(i), CreatedAt: at(i)})
	}
	// An array of 5 tasks made last: its run is a point, its tasks (newer ids) are not.
	arr := job.Run{ID: idAt(at(4), 1), Job: "series", Revision: 1, State: job.StateQueued, Trigger: job.TriggerAPI,
		Attempt: 1, NotBefore: at(4), CreatedAt: at(4)}
	children, events := group.Expand(&arr, spec("series"), 5, nil)
	if _, _, err := s.RunCreateGroup(ctx, arr, children, append([]job.Event{firstEvent(arr)}, events...)); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, arr.ID)

	type point struct {
		ID      string
		Kind    job.Kind
		Metrics map[string]float64
	}
	for _, tt := range []struct {
		name string
		f    store.SeriesFilter
		want []point
	}{
		{"all", store.SeriesFilter{Job: "series"}, []point{
			{ids[4], job.KindArray, nil}, {ids[3], "", map[string]float64{"records_read": 300}}, {ids[2], "", nil},
			{ids[1], "", map[string]float64{"records_read": 100}}, {ids[0], "", map[string]float64{"records_read": 0}}}},
		{"limit", store.SeriesFilter{Job: "series", Limit: 2}, []point{{ids[4], job.KindArray, nil}, {ids[3], "", map[string]float64{"records_read": 300}}}},
		{"window", store.SeriesFilter{Job: "series", Since: at(1), Until: at(3)}, []point{{ids[2], "", nil}, {ids[1], "", map[string]float64{"records_read": 100}}}},
		{"since", store.SeriesFilter{Job: "series", Since: at(3).Add(time.Second), Limit: 10}, []point{{ids[4], job.KindArray, nil}}},
		{"empty window", store.SeriesFilter{Job: "series", Since: at(2), Until: at(2)}, nil},
		{"no such job", store.SeriesFilter{Job: "absent"}, nil},
	} {
		got, err := s.RunSeries(ctx, tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var points []point
		for _, p := range got {
			if p.Run.Job != "series" || p.Run.Parent != "" {
				t.Errorf("%s: a point is run %s of %s, parent %q", tt.name, p.Run.ID, p.Run.Job, p.Run.Parent)
			}
			points = append(points, point{p.Run.ID, p.Run.Kind, p.Metrics})
		}
		if diff := cmp.Diff(tt.want, points); diff != "" {
			t.Errorf("%s: RunSeries(%+v) (-want +got):\n%s", tt.name, tt.f, diff)
		}
	}
	got, err := s.RunSeries(ctx, store.SeriesFilter{Job: "series", Limit: 1})
	if err != nil || len(got) != 1 || got[0].Run.Group == nil || got[0].Run.Group.Size != 5 || !got[0].Run.CreatedAt.Equal(at(4)) {
		t.Errorf("the array's point read back as %+v, err %v", got, err)
	}
}
