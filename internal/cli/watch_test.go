package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	sigsyaml "sigs.k8s.io/yaml"

	"docket.dev/docket/internal/job"
)

var watchStart = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

// snapshot is a list of runs as docket runs reads it, newest first, given as "id state"
// pairs.
func snapshot(pairs ...string) []job.Run {
	var runs []job.Run
	for _, p := range pairs {
		id, state, _ := strings.Cut(p, " ")
		runs = append(runs, job.Run{ID: id, Job: "train", State: job.State(state), Trigger: job.TriggerManual, Attempt: 1,
			CreatedAt: watchStart.Local()})
	}
	return runs
}

// setupWatch returns a watch writing to its buffer in the output format given.
func setupWatch(output string, inPlace bool) (*runWatch, *bytes.Buffer) {
	var out bytes.Buffer
	e := &env{stdout: &out, output: output}
	t := newRunTable(e, nil)
	t.now = func() time.Time { return watchStart }
	return &runWatch{e: e, table: t, inPlace: inPlace, seen: map[string]string{}}, &out
}

// TestWatchAppends: off a terminal, the list is printed once, then a run again each time
// it appears or changes, oldest change first, in columns that stay aligned.
func TestWatchAppends(t *testing.T) {
	t.Parallel()
	w, out := setupWatch(outputText, false)
	for _, runs := range [][]job.Run{
		snapshot("r2 queued", "r1 running"),
		snapshot("r2 queued", "r1 running"), // nothing changed: nothing printed
		snapshot("r3 queued", "r2 running", "r1 succeeded"),
	} {
		if err := w.show(runs); err != nil {
			t.Fatal(err)
		}
	}
	created := watchStart.Local().Format("2006-01-02 15:04:05")
	want := strings.NewReplacer("CREATED_AT", created).Replace(`ID  JOB    STATE    TRIGGER  ATTEMPT  SCHEDULED  CREATED              REASON
r2  train  queued   manual   1        -          CREATED_AT  
r1  train  running  manual   1        -          CREATED_AT  
r1  train  succeeded  manual   1        -          CREATED_AT  
r2  train  running    manual   1        -          CREATED_AT  
r3  train  queued     manual   1        -          CREATED_AT  
`)
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("watch output (-want +got):\n%s", diff)
	}
}

// TestWatchStructured: with -o json each new or changed run is one JSON document; with
// -o yaml one YAML document.
func TestWatchStructured(t *testing.T) {
	t.Parallel()
	for _, output := range []string{outputJSON, outputYAML} {
		w, out := setupWatch(output, false)
		for _, runs := range [][]job.Run{snapshot("r1 running"), snapshot("r1 running"), snapshot("r2 queued", "r1 failed")} {
			if err := w.show(runs); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		if output == outputYAML {
			docs := strings.Split(out.String(), "---\n")
			for _, doc := range docs[1:] {
				var r job.Run
				if err := sigsyaml.Unmarshal([]byte(doc), &r); err != nil {
					t.Fatalf("yaml document %q: %v", doc, err)
				}
				got = append(got, r.ID+" "+string(r.State))
			}
		} else {
			dec := json.NewDecoder(out)
			for dec.More() {
				var r job.Run
				if err := dec.Decode(&r); err != nil {
					t.Fatal(err)
				}
				got = append(got, r.ID+" "+string(r.State))
			}
		}
		if diff := cmp.Diff([]string{"r1 running", "r1 failed", "r2 queued"}, got); diff != "" {
			t.Errorf("-o %s documents (-want +got):\n%s", output, diff)
		}
	}
}

// TestWatchInPlace: on a terminal each frame goes over the last one (cursor up the lines
// it took, clear below), cut to the terminal's height and width.
func TestWatchInPlace(t *testing.T) {
	t.Parallel()
	w, out := setupWatch(outputText, true)
	w.width, w.height = 40, 4
	if err := w.show(snapshot("r1 running")); err != nil {
		t.Fatal(err)
	}
	first := out.String()
	out.Reset()
	if err := w.show(snapshot("r3 queued", "r2 queued", "r1 succeeded")); err != nil {
		t.Fatal(err)
	}
	second := out.String()

	title := "runs at " + watchStart.Local().Format("15:04:05") + ", every 1s (Ctrl-C stops" // 40 columns
	want1 := title + "\nID  JOB    STATE    TRIGGER  ATTEMPT  SC\nr1  train  running  manual   1        - \n"
	if diff := cmp.Diff(want1, first); diff != "" {
		t.Errorf("first frame (-want +got):\n%s", diff)
	}
	// Three lines up, over the first frame; then the title, the header, a row and what
	// did not fit in the 4 lines (one is kept for the cursor).
	want2 := "\x1b[3A\r\x1b[J" + title + "\nID  JOB    STATE      TRIGGER  ATTEMPT  \n... 3 more (--limit, --job or --state sh\n"
	if diff := cmp.Diff(want2, second); diff != "" {
		t.Errorf("second frame (-want +got):\n%q\n%q", want2, second)
	}
}

// TestWatchRun reads the runs every second until the context ends, which is no error
// (Ctrl-C ends a watch).
func TestWatchRun(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		w, out := setupWatch(outputText, false)
		calls := 0
		w.list = func(context.Context) ([]job.Run, error) {
			calls++
			if calls < 3 {
				return snapshot("r1 running"), nil
			}
			return snapshot("r1 succeeded"), nil
		}
		ctx, cancel := context.WithTimeout(t.Context(), 3500*time.Millisecond)
		defer cancel()
		if err := w.run(ctx); err != nil {
			t.Errorf("watch ended with %v; want nil when its context ends", err)
		}
		if calls != 4 {
			t.Errorf("read the runs %d times in 3.5s; want 4 (at 0, 1, 2 and 3s)", calls)
		}
		if got := strings.Count(out.String(), "\n"); got != 3 || !strings.Contains(out.String(), "succeeded") {
			t.Errorf("printed %d lines; want the header, running, then succeeded:\n%s", got, out.String())
		}
	})
}
