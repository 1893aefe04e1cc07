package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// drain returns the alerts queued so far.
func drain(n *Notifier) []Alert {
	var out []Alert
	for {
		select {
		case a := <-n.queue:
			out = append(out, a)
		default:
			return out
		}
	}
}

func TestDeadMan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, sp := range []job.Spec{
		{Name: "nightly", Image: "x", CPU: "1", Memory: "1Gi", ExpectSuccessWithin: job.Duration(26 * time.Hour)},
		{Name: "unwatched", Image: "x", CPU: "1", Memory: "1Gi"},
	} {
		if _, _, err := st.DefinitionPut(ctx, sp, t0); err != nil {
			t.Fatal(err)
		}
	}
	n := NewNotifier(nil, slog.New(slog.DiscardHandler))
	now := t0
	d := &DeadMan{Store: st, Notifier: n, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	check := func(at time.Duration) []Alert {
		t.Helper()
		now = t0.Add(at)
		if err := d.Check(ctx); err != nil {
			t.Fatal(err)
		}
		return drain(n)
	}
	if got := check(25 * time.Hour); len(got) != 0 {
		t.Errorf("alerted within the window: %+v", got)
	}
	got := check(27 * time.Hour)
	if len(got) != 1 || got[0].Kind != NoSuccess || got[0].Job != "nightly" ||
		got[0].Message != "no run has succeeded for 27h since the job was created, and the job expects a success within 26h" {
		t.Fatalf("after 27h without a success: %+v", got)
	}
	if got := check(28 * time.Hour); len(got) != 0 {
		t.Errorf("alerted twice for one silence: %+v", got)
	}
	// A server that takes the check over (a restart, a new leader) knows it was alerted.
	d = &DeadMan{Store: st, Notifier: n, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	if got := check(29 * time.Hour); len(got) != 0 {
		t.Errorf("a new checker alerted the same silence again: %+v", got)
	}

	// A success ends the silence; the next one is alerted again.
	finished := t0.Add(30 * time.Hour)
	r := job.Run{ID: job.NewRunID(finished), Job: "nightly", Revision: 1, State: job.StateSucceeded, Trigger: job.TriggerSchedule,
		Attempt: 1, NotBefore: finished, CreatedAt: finished, FinishedAt: &finished}
	if _, _, err := st.RunCreate(ctx, r, job.Event{RunID: r.ID, Time: finished, State: r.State}); err != nil {
		t.Fatal(err)
	}
	if got := check(31 * time.Hour); len(got) != 0 {
		t.Errorf("alerted right after a success: %+v", got)
	}
	got = check(57 * time.Hour)
	if len(got) != 1 || !strings.Contains(got[0].Message, "since its last success (run "+r.ID+")") {
		t.Errorf("after a new silence: %+v", got)
	}
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		bodies = map[string][]string{}
		fails  = 2 // the JSON hook fails twice, then takes the alert
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/json" && fails > 0 {
			fails--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var body map[string]any
		json.NewDecoder(r.Body).Decode(&body)
		data, _ := json.Marshal(body)
		bodies[r.URL.Path] = append(bodies[r.URL.Path], string(data))
	}))
	defer srv.Close()
	n := NewNotifier([]Webhook{{srv.URL + "/json", JSON}, {srv.URL + "/slack", Slack}}, slog.New(slog.DiscardHandler))
	n.retryWait = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	n.RunEnded(job.Run{ID: "r1", Job: "nightly", State: job.StateFailed, Reason: "OOMKilled", Message: "used more than 1Gi", FinishedAt: &t0}, nil)
	n.RunEnded(job.Run{ID: "r0", Job: "nightly", State: job.StateFailed, Reason: "ExitCode"}, &job.Run{ID: "r0-retry"})
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		got := len(bodies["/json"]) + len(bodies["/slack"])
		mu.Unlock()
		if got == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	want := map[string][]string{
		"/json":  {`{"job":"nightly","kind":"run_failed","message":"used more than 1Gi","reason":"OOMKilled","run_id":"r1","state":"failed","time":"2026-11-23T09:00:00Z"}`},
		"/slack": {`{"text":"Docket: run r1 of job nightly failed (OOMKilled): used more than 1Gi"}`},
	}
	for path, w := range want {
		if strings.Join(bodies[path], "\n") != strings.Join(w, "\n") {
			t.Errorf("%s got %q, want %q", path, bodies[path], w)
		}
	}
}

// TestDeliverKeepsURLsSecret checks that the log of alerts that could not be delivered
// shows a webhook's scheme and host, never the rest of its URL (a Slack webhook's path is
// its secret), whether the hook answered an error or could not be reached.
func TestDeliverKeepsURLsSecret(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook", http.StatusNotFound)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()
	var logs syncBuffer
	n := NewNotifier([]Webhook{
		{srv.URL + "/services/T000/B000/s3cr3t-answering", Slack},
		{closedURL + "/services/T000/B000/s3cr3t-unreachable?token=s3cr3t-query", Slack},
		{"https://alerts:s3cr3t-password@127.0.0.1:1/hook", JSON},
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	n.retryWait = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.Run(ctx) }()
	n.RunEnded(job.Run{ID: "r1", Job: "nightly", State: job.StateFailed, Reason: "ExitCode", FinishedAt: &t0}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logs.String(), "alert not delivered") < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	out := logs.String()
	if strings.Count(out, "alert not delivered") != 3 {
		t.Fatalf("want three deliveries logged as failed:\n%s", out)
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, "/services") {
		t.Errorf("the log shows a webhook's secret:\n%s", out)
	}
	for _, want := range []string{srv.URL + "/(hidden)", closedURL + "/(hidden)", "webhook answered 404 Not Found", "connection refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
}

// syncBuffer is a bytes.Buffer that goroutines may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
