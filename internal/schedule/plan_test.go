package schedule

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/job"
)

// outcome is the part of a planned run a test cares about.
type outcome struct {
	Slot   string
	State  job.State
	Reason job.Reason
}

func outcomes(p Plan) []outcome {
	var out []outcome
	for _, r := range p.Runs {
		out = append(out, outcome{r.ScheduledTime.Format("15:04"), r.State, r.Reason})
	}
	return out
}

func TestPlanSlots(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 30, 0, time.UTC)
	at := func(hhmm string) time.Time {
		tm, err := time.Parse("15:04", hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2026, 5, 1, tm.Hour(), tm.Minute(), 0, 0, time.UTC)
	}
	slots := func(s ...string) []time.Time {
		var out []time.Time
		for _, x := range s {
			out = append(out, at(x))
		}
		return out
	}
	def := func(mod func(*job.Definition)) job.Definition {
		d := job.Definition{Spec: job.Spec{Name: "j", Schedule: "* * * * *", Concurrency: job.ConcurrencyAllow, Catchup: job.CatchupLatest}, Revision: 2}
		if mod != nil {
			mod(&d)
		}
		return d
	}
	active := []job.Run{{ID: "r-active", State: job.StateRunning}}
	tests := []struct {
		name       string
		def        job.Definition
		slots      []time.Time
		active     []job.Run
		want       []outcome
		wantCancel []string
	}{
		{
			name:  "on time slot runs",
			def:   def(nil),
			slots: slots("12:00"),
			want:  []outcome{{"12:00", job.StateQueued, "Scheduled"}},
		},
		{
			name:  "catchup latest runs only the newest missed slot",
			def:   def(nil),
			slots: slots("11:57", "11:58", "11:59"),
			want: []outcome{
				{"11:57", job.StateSkipped, "Missed"},
				{"11:58", job.StateSkipped, "Missed"},
				{"11:59", job.StateQueued, "Scheduled"},
			},
		},
		{
			name:  "catchup none skips missed slots and runs the one on time",
			def:   def(func(d *job.Definition) { d.Catchup = job.CatchupNone }),
			slots: slots("11:58", "11:59", "12:00"),
			want: []outcome{
				{"11:58", job.StateSkipped, "Missed"},
				{"11:59", job.StateSkipped, "Missed"},
				{"12:00", job.StateQueued, "Scheduled"},
			},
		},
		{
			name:  "catchup all runs every missed slot",
			def:   def(func(d *job.Definition) { d.Catchup = job.CatchupAll }),
			slots: slots("11:58", "11:59", "12:00"),
			want: []outcome{
				{"11:58", job.StateQueued, "Scheduled"},
				{"11:59", job.StateQueued, "Scheduled"},
				{"12:00", job.StateQueued, "Scheduled"},
			},
		},
		{
			name:  "suspended job skips every slot",
			def:   def(func(d *job.Definition) { d.Suspended = true }),
			slots: slots("11:59", "12:00"),
			want: []outcome{
				{"11:59", job.StateSkipped, "Suspended"},
				{"12:00", job.StateSkipped, "Suspended"},
			},
		},
		{
			name:   "forbid skips while a run is active",
			def:    def(func(d *job.Definition) { d.Concurrency = job.ConcurrencyForbid }),
			slots:  slots("12:00"),
			active: active,
			want:   []outcome{{"12:00", job.StateSkipped, "ConcurrencyForbid"}},
		},
		{
			name:   "allow runs alongside an active run",
			def:    def(nil),
			slots:  slots("12:00"),
			active: active,
			want:   []outcome{{"12:00", job.StateQueued, "Scheduled"}},
		},
		{
			name:       "replace cancels the active run and keeps the newest slot",
			def:        def(func(d *job.Definition) { d.Concurrency = job.ConcurrencyReplace; d.Catchup = job.CatchupAll }),
			slots:      slots("11:59", "12:00"),
			active:     active,
			want:       []outcome{{"11:59", job.StateSkipped, "Replaced"}, {"12:00", job.StateQueued, "Scheduled"}},
			wantCancel: []string{"r-active"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := PlanSlots(tt.def, tt.slots, false, tt.active, now, time.Minute)
			if diff := cmp.Diff(tt.want, outcomes(p)); diff != "" {
				t.Errorf("runs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCancel, p.Cancel); diff != "" {
				t.Errorf("cancel (-want +got):\n%s", diff)
			}
			if !p.Through.Equal(now) {
				t.Errorf("Through = %v, want %v", p.Through, now)
			}
			for i, r := range p.Runs {
				if r.Job != "j" || r.Revision != 2 || r.Attempt != 1 || r.Trigger != job.TriggerSchedule {
					t.Errorf("run %d = %+v, want job j revision 2 attempt 1 trigger schedule", i, r)
				}
				if ev := p.Events[i]; ev.RunID != r.ID || ev.State != r.State || ev.Reason != r.Reason {
					t.Errorf("event %d = %+v does not record run %+v", i, ev, r)
				}
				if (r.State == job.StateSkipped) != (r.FinishedAt != nil) {
					t.Errorf("run %d: state %s with finished_at %v", i, r.State, r.FinishedAt)
				}
			}
		})
	}
}

func TestPlanSlotsCatchupAllCap(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var slots []time.Time
	for i := 150; i >= 1; i-- {
		slots = append(slots, now.Add(-time.Duration(i)*time.Minute))
	}
	d := job.Definition{Spec: job.Spec{Name: "j", Concurrency: job.ConcurrencyAllow, Catchup: job.CatchupAll}}
	p := PlanSlots(d, slots, false, nil, now, 30*time.Second)
	queued := 0
	for _, r := range p.Runs {
		if r.State == job.StateQueued {
			queued++
		}
	}
	if queued != job.MaxCatchup || len(p.Runs) != 150 {
		t.Errorf("queued %d of %d runs, want %d of 150", queued, len(p.Runs), job.MaxCatchup)
	}
	if p.Runs[149].State != job.StateQueued || p.Runs[0].State != job.StateSkipped {
		t.Errorf("want the newest slots queued and the oldest skipped, got first %s last %s", p.Runs[0].State, p.Runs[149].State)
	}
}
