package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/dispatch"
	"docket.dev/docket/internal/imagecheck"
	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/record"
	"docket.dev/docket/internal/store"
	"docket.dev/docket/internal/store/sqlite"
)

const goodJob = `name: nightly
image: python:3.12
command: ["python", "train.py", "--date", "{{ .ScheduledDate }}"]
cpu: "2"
memory: 4Gi
schedule: "0 3 * * *"
timezone: America/New_York
retries: 2
env: {MODE: full}
`

type fixture struct {
	srv   *httptest.Server
	api   *API
	store store.Store
	now   time.Time
}

func setup(t testing.TB) *fixture {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "docket.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return setupWith(t, st)
}

// idle is an executor that runs nothing: the API's tests cancel only queued runs.
type idle struct{}

func (idle) Start(context.Context, job.Execution) error {
	return errors.New("this executor runs nothing")
}
func (idle) Cancel(context.Context, string, string) error { return job.ErrNotFound }
func (idle) Running() int                                 { return 0 }

// setupWith serves the API on st.
func setupWith(t testing.TB, st store.Store) *fixture {
	t.Helper()
	f := &fixture{store: st, now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	log := slog.New(slog.DiscardHandler)
	disp := dispatch.New(dispatch.Options{Store: st, Executor: idle{}, Reporter: record.New(record.Options{Store: st, Logger: log}), Logger: log})
	a := New(Options{
		Store:     st,
		Canceller: disp,
		Tasks:     disp,
		Logger:    log,
		Limits:    definition.DefaultLimits(),
		Now:       func() time.Time { return f.now },
	})
	a.SetReady()
	f.api = a
	f.srv = httptest.NewServer(a)
	t.Cleanup(f.srv.Close)
	return f
}

// call sends a request and returns the status and body.
func (f *fixture) call(t testing.TB, method, path, contentType, body string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// snapshot is everything stored that a bad request must leave alone.
func (f *fixture) snapshot(t *testing.T) any {
	t.Helper()
	ctx := context.Background()
	defs, err := f.store.DefinitionList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runs, _, err := f.store.RunList(ctx, store.RunFilter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var events [][]job.Event
	for _, r := range runs {
		evs, err := f.store.EventList(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, evs)
	}
	return map[string]any{"defs": defs, "runs": runs, "events": events}
}

// TestBadInput sends malformed definitions and requests: each must get a 4xx whose body
// names the field at fault, and nothing stored may change.
func TestBadInput(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); status != http.StatusCreated {
		t.Fatalf("PUT good job: %d %s", status, body)
	}
	status, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", "")
	if status != http.StatusCreated {
		t.Fatalf("POST run: %d %s", status, body)
	}
	var done job.Run
	json.Unmarshal(body, &done)
	if _, err := f.store.RunTransition(context.Background(), job.Transition{RunID: done.ID, From: job.StateQueued, To: job.StateCancelled, Time: f.now, Reason: "Cancelled"}); err != nil {
		t.Fatal(err)
	}
	before := f.snapshot(t)

	yamlWith := func(old, new string) string { return strings.Replace(goodJob, old, new, 1) }
	tests := []struct {
		name, method, path, contentType, body string
		header                                []string
		status                                int
		field                                 string
	}{
		{"unknown field", "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob + "gpus: 1\n", nil, 400, "gpus"},
		{"bad cron", "PUT", "/api/v1/jobs/nightly", "application/yaml", yamlWith(`"0 3 * * *"`, `"0 3 * *"`), nil, 400, "schedule"},
		{"bad zone", "PUT", "/api/v1/jobs/nightly", "application/yaml", yamlWith("America/New_York", "America/Gotham"), nil, 400, "timezone"},
		{"bad quantity", "PUT", "/api/v1/jobs/nightly", "application/yaml", yamlWith("4Gi", "4 gigs"), nil, 400, "memory"},
		{"bad template", "PUT", "/api/v1/jobs/nightly", "application/yaml", yamlWith("{{ .ScheduledDate }}", "{{ .Yesterday }}"), nil, 400, "command[3]"},
		{"bad duration", "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob + "deadline: forever\n", nil, 400, "deadline"},
		{"bad name in body", "PUT", "/api/v1/jobs/nightly", "application/yaml", yamlWith("name: nightly", "name: Nightly"), nil, 400, "name"},
		{"bad name in path", "PUT", "/api/v1/jobs/Bad_Name", "application/yaml", yamlWith("name: nightly\n", ""), nil, 400, "name"},
		{"name differs from path", "PUT", "/api/v1/jobs/nightly", "application/yaml", yamlWith("name: nightly", "name: other"), nil, 400, "name"},
		{"wrong type", "PUT", "/api/v1/jobs/nightly", "application/json", `{"name":"nightly","image":"x","cpu":"1","memory":"1Gi","retries":"two"}`, nil, 400, "retries"},
		{"not a mapping", "PUT", "/api/v1/jobs/nightly", "application/json", `["nightly"]`, nil, 400, ""},
		{"JSON with YAML after it", "PUT", "/api/v1/jobs/nightly", "application/json", `{"image":"x","cpu":"1","memory":"1Gi"}` + "\nschedule: \"@daily\"\n", nil, 400, "body"},
		{"JSON with more JSON after it", "PUT", "/api/v1/jobs/nightly", "application/json", `{"image":"x","cpu":"1","memory":"1Gi"} {"schedule":"@daily"}`, nil, 400, "body"},
		{"two documents", "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob + "---\n" + goodJob, nil, 400, ""},
		{"media type", "PUT", "/api/v1/jobs/nightly", "application/xml", "<job/>", nil, 415, ""},
		{"too large", "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob + "# " + strings.Repeat("x", 2<<20) + "\n", nil, 413, ""},
		{"run of unknown job", "POST", "/api/v1/jobs/absent/runs", "application/json", "", nil, 404, ""},
		{"run body unknown field", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"envs":{"A":"1"}}`, nil, 400, "envs"},
		{"run env wrong type", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":["A"]}`, nil, 400, "env"},
		{"run env value wrong type", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":{"A":1}}`, nil, 400, "env"},
		{"run env bad name", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":{"1A":"x"}}`, nil, 400, "env.1A"},
		{"run env reserved", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":{"DOCKET_RUN_ID":"x"}}`, nil, 400, "env.DOCKET_RUN_ID"},
		{"run trigger", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"trigger":"schedule"}`, nil, 400, "trigger"},
		{"run body with another value after it", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":{"A":"1"}} {"trigger":"manual"}`, nil, 400, "body"},
		{"run body with a bracket after it", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":{"A":"1"}}]`, nil, 400, "body"},
		{"run body not an object", "POST", "/api/v1/jobs/nightly/runs", "application/json", `["env"]`, nil, 400, "body"},
		{"run body not JSON", "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":`, nil, 400, "body"},
		{"run idempotency key too long", "POST", "/api/v1/jobs/nightly/runs", "application/json", "", []string{"Idempotency-Key", strings.Repeat("k", 201)}, 400, "Idempotency-Key"},
		{"jobs bad limit", "GET", "/api/v1/jobs?limit=0", "", "", nil, 400, "limit"},
		{"jobs limit too large", "GET", "/api/v1/jobs?limit=1001", "", "", nil, 400, "limit"},
		{"jobs bad recent", "GET", "/api/v1/jobs?recent=51", "", "", nil, 400, "recent"},
		{"jobs recent not a number", "GET", "/api/v1/jobs?recent=some", "", "", nil, 400, "recent"},
		{"list bad state", "GET", "/api/v1/runs?state=running,done", "", "", nil, 400, "state"},
		{"list bad limit", "GET", "/api/v1/runs?limit=5000", "", "", nil, 400, "limit"},
		{"list limit not a number", "GET", "/api/v1/runs?limit=all", "", "", nil, 400, "limit"},
		{"logs bad offset", "GET", "/api/v1/runs/" + done.ID + "/logs?offset=-1", "", "", nil, 400, "offset"},
		{"unknown run", "GET", "/api/v1/runs/absent", "", "", nil, 404, ""},
		{"cancel finished run", "POST", "/api/v1/runs/" + done.ID + "/cancel", "", "", nil, 409, ""},
		{"delete unknown job", "DELETE", "/api/v1/jobs/absent", "", "", nil, 404, ""},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", "", nil, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.call(t, tt.method, tt.path, tt.contentType, tt.body, tt.header...)
			var got errorBody
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("status %d, body not an error document: %s", status, body)
			}
			if status != tt.status || got.Error.Field != tt.field || got.Error.Message == "" {
				t.Errorf("got %d field %q message %q; want %d field %q and a message", status, got.Error.Field, got.Error.Message, tt.status, tt.field)
			}
		})
	}
	if diff := cmp.Diff(before, f.snapshot(t)); diff != "" {
		t.Errorf("bad requests changed what is stored (-before +after):\n%s", diff)
	}
	// A conflict's message is a sentence of its own; the code says it is a conflict.
	_, body = f.call(t, "POST", "/api/v1/runs/"+done.ID+"/cancel", "", "")
	var got errorBody
	json.Unmarshal(body, &got)
	if want := "run " + done.ID + " already cancelled"; got.Error.Code != "conflict" || got.Error.Message != want {
		t.Errorf("cancel of a cancelled run: %s; want code conflict, message %q", body, want)
	}
}

func TestPutJob(t *testing.T) {
	t.Parallel()
	f := setup(t)
	status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob)
	var got struct {
		job.Definition
		NextRuns []string `json:"next_runs"`
		Changed  bool     `json:"changed"`
	}
	if err := json.Unmarshal(body, &got); err != nil || status != http.StatusCreated {
		t.Fatalf("PUT: %d %s", status, body)
	}
	want := []string{"2026-11-24T03:00:00-05:00", "2026-11-25T03:00:00-05:00"}
	if got.Revision != 1 || !got.Changed || got.Concurrency != job.ConcurrencyForbid || len(got.NextRuns) != 5 || !cmp.Equal(want, got.NextRuns[:2]) {
		t.Errorf("PUT answer: revision %d changed %v concurrency %q next %v", got.Revision, got.Changed, got.Concurrency, got.NextRuns)
	}
	// The same definition in JSON is unchanged; a changed one is a new revision.
	js := `{"image":"python:3.12","command":["python","train.py","--date","{{ .ScheduledDate }}"],"cpu":"2","memory":"4Gi","schedule":"0 3 * * *","timezone":"America/New_York","retries":2,"env":{"MODE":"full"}}`
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/json", js); status != http.StatusOK || !bytes.Contains(body, []byte(`"changed":false`)) {
		t.Errorf("unchanged PUT: %d %s", status, body)
	}
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", strings.Replace(goodJob, "retries: 2", "retries: 3", 1)); status != http.StatusCreated || !bytes.Contains(body, []byte(`"revision":2`)) {
		t.Errorf("changed PUT: %d %s", status, body)
	}
}

func TestSubmitIdempotency(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob)
	submit := func() (int, job.Run) {
		status, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"env":{"MODE":"quick"}}`, "Idempotency-Key", "k1")
		var r job.Run
		json.Unmarshal(body, &r)
		return status, r
	}
	s1, r1 := submit()
	f.now = f.now.Add(time.Second)
	s2, r2 := submit()
	if s1 != http.StatusCreated || s2 != http.StatusOK || r1.ID != r2.ID || r1.Env["MODE"] != "quick" || r1.Revision != 1 {
		t.Errorf("first %d %+v; repeat %d %+v; want 201 then 200 with the same run", s1, r1, s2, r2)
	}
	runs, _, _ := f.store.RunList(context.Background(), store.RunFilter{})
	if len(runs) != 1 {
		t.Errorf("%d runs stored, want 1", len(runs))
	}
}

func FuzzSubmitBody(f *testing.F) {
	for _, seed := range []string{``, `{}`, `{"env":{"A":"1"}}`, `{"trigger":"manual"}`, `{"env":{"1":2}}`, `[]`, `{"env":null}`,
		`{"env":{"A":"1"}} {"trigger":"manual"}`, `{}]`, "{\"env\":{\"A\":\"\xff\"}}", `{"env":{"A":"\ud800"}}`, `[[[[[[[[{}]]]]]]]]`} {
		f.Add(seed)
	}
	fx := setup(f)
	fx.call(f, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob)
	f.Fuzz(func(t *testing.T, body string) {
		status, data := fx.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", body)
		switch {
		case status == http.StatusCreated:
			if !utf8.Valid(data) || !json.Valid(data) {
				t.Fatalf("body %q was stored and answered as %q", body, data)
			}
		case status >= 400 && status < 500:
			var e errorBody
			if err := json.Unmarshal(data, &e); err != nil || e.Error.Message == "" {
				t.Fatalf("%d without an error document: %s", status, data)
			}
		default:
			t.Fatalf("status %d for body %q: %s", status, body, data)
		}
	})
}

// smallCluster refuses more than 8 cpus, as the Kubernetes executor does for its nodes.
type smallCluster struct{ maxCPU int }

func (c *smallCluster) Admit(_ context.Context, spec job.Spec) error {
	if n, err := strconv.Atoi(spec.CPU); err == nil && n > c.maxCPU {
		return job.Invalid("cpu", "requests cpu %s, but the largest node has cpu %d", spec.CPU, c.maxCPU)
	}
	return nil
}

func TestCapacity(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cluster := &smallCluster{maxCPU: 8}
	f.api.opts.Admission = cluster
	huge := strings.Replace(goodJob, `cpu: "2"`, `cpu: "64"`, 1)
	status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", huge)
	if status != 400 || !strings.Contains(string(body), `"field":"cpu"`) || !strings.Contains(string(body), "the largest node has cpu 8") {
		t.Errorf("apply of a job no node fits: %d %s", status, body)
	}
	if _, err := f.store.DefinitionGet(context.Background(), "nightly"); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("the refused job was stored: %v", err)
	}
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); status != 201 {
		t.Fatalf("apply: %d %s", status, body)
	}
	// The cluster shrank since the job was applied: its runs are refused.
	cluster.maxCPU = 1
	status, body = f.call(t, "POST", "/api/v1/jobs/nightly/runs", "", "")
	if status != 400 || !strings.Contains(string(body), "requests cpu 2") {
		t.Errorf("submit to a cluster too small: %d %s", status, body)
	}
}

// TestImageCheck applies definitions against a registry served in-process: an image it
// holds is accepted, one it lacks is refused (and not stored), and an image on a registry
// that does not answer is accepted with a warning.
func TestImageCheck(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New())
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(host + "/ds/train:1.4.2")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	f := setup(t)
	f.api.opts.Images = &imagecheck.Checker{}
	withImage := func(image string) string {
		return strings.Replace(goodJob, "image: python:3.12", "image: "+image, 1)
	}
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", withImage(host+"/ds/train:1.4.2")); status != 201 || strings.Contains(string(body), "warnings") {
		t.Errorf("an image the registry holds: %d %s", status, body)
	}
	status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", withImage(host+"/ds/train:1.4.3"))
	if status != 400 || !strings.Contains(string(body), `"field":"image"`) || !strings.Contains(string(body), host+"/ds/train:1.4.3 not found") {
		t.Errorf("a missing image: %d %s", status, body)
	}
	if def, err := f.store.DefinitionGet(context.Background(), "nightly"); err != nil || def.Image != host+"/ds/train:1.4.2" {
		t.Errorf("the stored job changed after a refused apply: %v %v", def.Image, err)
	}
	status, body = f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", withImage("127.0.0.1:1/ds/train:2"))
	if status != 201 || !strings.Contains(string(body), "could not check that image 127.0.0.1:1/ds/train:2 exists") {
		t.Errorf("an unreachable registry: %d %s", status, body)
	}
}

// pageCounter counts the store's DefinitionPage calls and answers them with err.
type pageCounter struct {
	store.Store
	calls atomic.Int32
	err   error
}

func (p *pageCounter) DefinitionPage(ctx context.Context, f store.DefinitionFilter) ([]job.Definition, string, error) {
	p.calls.Add(1)
	if p.err != nil {
		return nil, "", p.err
	}
	return p.Store.DefinitionPage(ctx, f)
}

// TestReadyzReadsLittle: readyz, which needs no token, reads one job's row at most once a
// second however many probes come, and says when the store does not answer.
func TestReadyzReadsLittle(t *testing.T) {
	t.Parallel()
	counter := &pageCounter{Store: setup(t).store}
	f := setupWith(t, counter)
	f.api.SetReady()
	for range 50 {
		if status, body := f.call(t, "GET", "/readyz", "", ""); status != 200 {
			t.Fatalf("readyz: %d %s", status, body)
		}
	}
	if n := counter.calls.Load(); n != 1 {
		t.Errorf("50 probes within a second read the store %d times; want 1", n)
	}
	counter.err = errors.New("database is locked")
	f.now = f.now.Add(storeCheckFor)
	if status, body := f.call(t, "GET", "/readyz", "", ""); status != 503 || !strings.Contains(string(body), "store unavailable") {
		t.Errorf("readyz with the store failing a second later: %d %s", status, body)
	}
	if n := counter.calls.Load(); n != 2 {
		t.Errorf("the store was read %d times; want 2", n)
	}
}

// TestErrorsEchoLittle: an error quoting what the client sent quotes at most
// job.MaxErrorText bytes of it, however much was sent.
func TestErrorsEchoLittle(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// Each < is 6 bytes once JSON escapes it.
	for _, long := range []string{strings.Repeat("A", 60000), strings.Repeat("%3C", 6000)} {
		for _, path := range []string{"/api/v1/runs?state=" + long, "/api/v1/runs/" + long + "/logs", "/api/v1/jobs?limit=" + long} {
			status, body := f.call(t, "GET", path, "", "")
			if status < 400 || status >= 500 || len(body) > 6*job.MaxErrorText+512 {
				t.Errorf("GET %s...: %d, %d bytes; want a 4xx of at most %d", path[:30], status, len(body), 6*job.MaxErrorText+512)
			}
		}
	}
	// What the error says of the value, after it, is kept.
	if _, body := f.call(t, "GET", "/api/v1/jobs?limit="+strings.Repeat("A", 60000), "", ""); !strings.Contains(string(body), `is not a number from 1 to 1000"`) {
		t.Errorf("a long value's error lost its end: %.200s...%s", body, body[max(0, len(body)-200):])
	}
}

// TestFollowsCapped: a token follows at most maxFollows logs at once; the next is a 429
// until one of them stops.
func TestFollowsCapped(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if status, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); status != 201 {
		t.Fatalf("apply: %d %s", status, body)
	}
	_, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "", "")
	var run struct{ ID string }
	if err := json.Unmarshal(body, &run); err != nil || run.ID == "" {
		t.Fatalf("submit: %s", body)
	}
	follow := func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/api/v1/runs/"+run.ID+"/logs?follow=true", nil)
		if err != nil {
			return nil, err
		}
		return http.DefaultClient.Do(req)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var held []*http.Response
	for range maxFollows {
		resp, err := follow(ctx) // the run stays queued: each follow is held
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("follow %d: %v %v", len(held), resp, err)
		}
		held = append(held, resp)
	}
	resp, err := follow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	over, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(over), fmt.Sprintf("follows %d logs already", maxFollows)) {
		t.Errorf("one follow more: %d %s; want 429", resp.StatusCode, over)
	}
	stop()
	for _, r := range held {
		r.Body.Close()
	}
	// The stopped follows are let go once the server sees their connections close.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := follow(ctx)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		resp.Body.Close()
		if resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a follow after the others stopped: %d", resp.StatusCode)
		}
	}
}

// racingBlobs completes a blob, as another upload of the same bytes would, right after
// the first BlobBegin of a request has found it empty.
type racingBlobs struct {
	store.Store
	once sync.Once
	data []byte
}

func (s *racingBlobs) BlobBegin(ctx context.Context, up store.Upload, size int64, now time.Time) (store.Blob, error) {
	b, err := s.Store.BlobBegin(ctx, up, size, now)
	s.once.Do(func() {
		if _, err := s.Store.BlobAppend(ctx, up, 0, s.data, now); err == nil {
			s.Store.BlobSeal(ctx, up.SHA256)
		}
	})
	return b, err
}

// TestBlobUploadedTwiceAtOnce: an upload whose blob another upload of the same bytes
// completed meanwhile succeeds (two runs keeping one output file at once); before, its
// append was refused as a conflict.
func TestBlobUploadedTwiceAtOnce(t *testing.T) {
	t.Parallel()
	data := []byte("a,b\n")
	sum := sha256.Sum256(data)
	f := setupWith(t, &racingBlobs{Store: setup(t).store, data: data})
	status, body := f.call(t, "PUT", fmt.Sprintf("/api/v1/blobs/%x?size=%d", sum, len(data)), "application/octet-stream", string(data))
	if status != 200 || !strings.Contains(string(body), `"complete":true`) {
		t.Errorf("an upload another completed meanwhile: %d %s; want 200, complete", status, body)
	}
}
