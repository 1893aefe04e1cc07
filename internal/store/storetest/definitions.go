package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

func testDefinitionRevisions(t *testing.T, s store.Store) {
	ctx := context.Background()
	sp := spec("nightly")
	d, changed, err := s.DefinitionPut(ctx, sp, t0)
	if err != nil || !changed || d.Revision != 1 {
		t.Fatalf("first put: revision %d changed %v err %v; want 1 true nil", d.Revision, changed, err)
	}
	if diff := cmp.Diff(sp, d.Spec); diff != "" {
		t.Errorf("stored spec (-want +got):\n%s", diff)
	}
	if !d.CreatedAt.Equal(t0) || !d.ScheduledThrough.Equal(t0) {
		t.Errorf("created %v cursor %v, want both %v", d.CreatedAt, d.ScheduledThrough, t0)
	}
	d, changed, err = s.DefinitionPut(ctx, sp, t0.Add(time.Minute))
	if err != nil || changed || d.Revision != 1 {
		t.Fatalf("same spec again: revision %d changed %v err %v; want 1 false nil", d.Revision, changed, err)
	}
	sp2 := sp
	sp2.Image = "python:3.13"
	d, changed, err = s.DefinitionPut(ctx, sp2, t0.Add(2*time.Minute))
	if err != nil || !changed || d.Revision != 2 || d.Image != "python:3.13" {
		t.Fatalf("changed spec: %+v changed %v err %v; want revision 2 with the new image", d, changed, err)
	}
	old, err := s.DefinitionRevision(ctx, "nightly", 1)
	if err != nil || old.Image != "python:3.12" || old.Revision != 1 {
		t.Errorf("revision 1 = %q rev %d err %v; want python:3.12", old.Image, old.Revision, err)
	}
	if _, err := s.DefinitionRevision(ctx, "nightly", 3); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("revision 3: err %v, want ErrNotFound", err)
	}
	if _, err := s.DefinitionGet(ctx, "absent"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("get absent: err %v, want ErrNotFound", err)
	}
	put(t, s, spec("alpha"), t0)
	list, err := s.DefinitionList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range list {
		names = append(names, d.Name)
	}
	if diff := cmp.Diff([]string{"alpha", "nightly"}, names); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
}

func testDefinitionDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, spec("gone"), t0)
	if err := s.DefinitionDelete(ctx, "gone", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.DefinitionDelete(ctx, "gone", t0.Add(time.Minute)); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("second delete: err %v, want ErrNotFound", err)
	}
	if _, err := s.DefinitionGet(ctx, "gone"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("get deleted: err %v, want ErrNotFound", err)
	}
	if list, _ := s.DefinitionList(ctx); len(list) != 0 {
		t.Errorf("list after delete = %d jobs, want 0", len(list))
	}
	if _, err := s.DefinitionRevision(ctx, "gone", 1); err != nil {
		t.Errorf("a deleted job's revision stays readable for its runs: %v", err)
	}
	// Re-creating continues the revision count, so (job, revision) stays unique.
	d, changed, err := s.DefinitionPut(ctx, spec("gone"), t0.Add(2*time.Minute))
	if err != nil || !changed || d.Revision != 2 || !d.ScheduledThrough.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("re-create: revision %d changed %v cursor %v err %v; want 2 true %v", d.Revision, changed, d.ScheduledThrough, err, t0.Add(2*time.Minute))
	}
}

func testDefinitionSuspend(t *testing.T, s store.Store) {
	ctx := context.Background()
	put(t, s, spec("pausable"), t0)
	d, err := s.DefinitionSuspend(ctx, "pausable", true, t0)
	if err != nil || !d.Suspended {
		t.Fatalf("suspend: %v %v", d.Suspended, err)
	}
	// Re-applying the same spec keeps the job suspended.
	if d := put(t, s, spec("pausable"), t0); !d.Suspended {
		t.Error("re-applying an unchanged spec resumed the job")
	}
	if d, err = s.DefinitionSuspend(ctx, "pausable", false, t0); err != nil || d.Suspended {
		t.Errorf("resume: %v %v", d.Suspended, err)
	}
	if _, err := s.DefinitionSuspend(ctx, "absent", true, t0); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("suspend absent: err %v, want ErrNotFound", err)
	}
}

func testDefinitionCursor(t *testing.T, s store.Store) {
	put(t, s, spec("cursor"), t0)
	if err := recordSlots(s, store.Fence{}, "cursor", t0, t0.Add(time.Hour), nil, nil); err != nil {
		t.Fatal(err)
	}
	sp := spec("cursor")
	sp.Retries = 3
	if d := put(t, s, sp, t0.Add(2*time.Hour)); !d.ScheduledThrough.Equal(t0.Add(time.Hour)) {
		t.Errorf("a change that keeps the schedule moved the cursor to %v", d.ScheduledThrough)
	}
	sp.Schedule = "0 * * * *"
	if d := put(t, s, sp, t0.Add(3*time.Hour)); !d.ScheduledThrough.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("a new schedule left the cursor at %v, want the time of the change", d.ScheduledThrough)
	}
}

func testInstances(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, b := range []struct {
		id string
		at time.Time
	}{{"a", t0}, {"b", t0.Add(time.Second)}, {"a", t0.Add(2 * time.Second)}} {
		if err := s.InstanceBeat(ctx, b.id, b.at); err != nil {
			t.Fatal(err)
		}
	}
	want := []store.Instance{{ID: "a", BeatAt: t0.Add(2 * time.Second)}, {ID: "b", BeatAt: t0.Add(time.Second)}}
	got, err := s.InstanceList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instances after beats (-want +got):\n%s", diff)
	}
	if err := s.InstanceForget(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.InstanceList(ctx); len(got) != 1 || got[0].ID != "b" {
		t.Errorf("after forgetting a: %+v", got)
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	ttl := 10 * time.Second
	acquire := func(holder string, now time.Time) store.Lease {
		t.Helper()
		l, err := s.LeaseAcquire(ctx, "scheduler", holder, now, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	lease := func(holder string, token int64, expires time.Time) store.Lease {
		return store.Lease{Name: "scheduler", Holder: holder, Token: token, ExpiresAt: expires}
	}
	steps := []struct {
		what   string
		holder string
		at     time.Time
		want   store.Lease
	}{
		{"a takes the free lease", "a", t0, lease("a", 1, t0.Add(ttl))},
		{"b cannot take a held lease", "b", t0.Add(5 * time.Second), lease("a", 1, t0.Add(ttl))},
		{"a renews, keeping its token", "a", t0.Add(6 * time.Second), lease("a", 1, t0.Add(6*time.Second+ttl))},
		{"b takes the expired lease with a new token", "b", t0.Add(16 * time.Second), lease("b", 2, t0.Add(16*time.Second+ttl))},
		{"deposed a cannot renew", "a", t0.Add(17 * time.Second), lease("b", 2, t0.Add(16*time.Second+ttl))},
	}
	for _, st := range steps {
		if diff := cmp.Diff(st.want, acquire(st.holder, st.at)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", st.what, diff)
		}
	}
	if err := s.LeaseRelease(ctx, "scheduler", "a"); err != nil {
		t.Fatal(err)
	}
	if l := acquire("c", t0.Add(18*time.Second)); l.Holder != "b" {
		t.Errorf("a released a lease it does not hold: now %+v", l)
	}
	if err := s.LeaseRelease(ctx, "scheduler", "b"); err != nil {
		t.Fatal(err)
	}
	if l := acquire("c", t0.Add(18*time.Second)); l.Holder != "c" || l.Token != 3 {
		t.Errorf("after b released it, c got %+v; want c with token 3", l)
	}
}

// testDefinitionDue: a pass reads only the jobs that are due. A new or changed schedule is
// due at once; a job's next due time moves with its slots; a job without a schedule, or
// deleted, is never due.
func testDefinitionDue(t *testing.T, s store.Store) {
	ctx := context.Background()
	due := func(now time.Time) []string {
		t.Helper()
		var names []string
		var afterDue time.Time
		after := ""
		for {
			defs, err := s.DefinitionDue(ctx, now, afterDue, after, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range defs {
				names = append(names, d.Name)
			}
			if len(defs) < 2 {
				return names
			}
			afterDue, after = *defs[len(defs)-1].NextDue, defs[len(defs)-1].Name
		}
	}
	for _, name := range []string{"a", "b", "c"} {
		put(t, s, spec(name), t0)
	}
	onDemand := spec("on-demand")
	onDemand.Schedule = ""
	put(t, s, onDemand, t0)
	if diff := cmp.Diff([]string{"a", "b", "c"}, due(t0)); diff != "" {
		t.Errorf("new scheduled jobs are due at once, paged (-want +got):\n%s", diff)
	}
	// Recorded through t0 and next due at t0+1m (recordSlots), a job is not due before.
	for _, name := range []string{"a", "b"} {
		if err := recordSlots(s, store.Fence{}, name, t0, t0, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"c"}, due(t0.Add(30*time.Second))); diff != "" {
		t.Errorf("due before the next slot (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"c", "a", "b"}, due(t0.Add(time.Minute))); diff != "" {
		t.Errorf("due at the next slot, in the order they came due (-want +got):\n%s", diff)
	}
	// A change that keeps the schedule keeps the due time; a new schedule is due at once.
	sp := spec("a")
	sp.Retries = 2
	put(t, s, sp, t0.Add(10*time.Second))
	if diff := cmp.Diff([]string{"c"}, due(t0.Add(30*time.Second))); diff != "" {
		t.Errorf("after a change that keeps the schedule (-want +got):\n%s", diff)
	}
	sp.Schedule = "0 * * * *"
	put(t, s, sp, t0.Add(20*time.Second))
	if diff := cmp.Diff([]string{"a", "c"}, due(t0.Add(30*time.Second))); diff != "" {
		t.Errorf("after a new schedule (-want +got):\n%s", diff)
	}
	if err := s.DefinitionDelete(ctx, "c", t0); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.DefinitionGet(ctx, "on-demand"); d.NextDue != nil {
		t.Errorf("a job without a schedule is due at %v; want never", d.NextDue)
	}
	if diff := cmp.Diff([]string{"a"}, due(t0.Add(30*time.Second))); diff != "" {
		t.Errorf("after a delete (-want +got):\n%s", diff)
	}
}
