package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

var update = flag.Bool("update", false, "rewrite docs/openapi.json from the route table")

// openAPIFile is the description kept in the repository for those who generate clients.
const openAPIFile = "../../docs/openapi.json"

// described serves the API as a server does (with the UI, /metrics and the AWS Batch face), and returns it
// with its description as the server serves it.
func described(t *testing.T) (*fixture, []byte) {
	t.Helper()
	f := setup(t)
	f.api.opts.UI = http.NotFoundHandler()
	f.api.opts.MetricsHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "up 1") })
	f.api.opts.AWS = http.NotFoundHandler()
	f.api.mux = &routeMux{ServeMux: http.NewServeMux()}
	f.api.routes()
	status, body := f.call(t, "GET", "/api/v1/openapi.json", "", "")
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", status, body)
	}
	return f, body
}

// notAPI are the patterns the server serves that are no part of the API: the web UI's
// pages and the JSON 404 under /api/. The AWS Batch face is AWS's API, not Docket's: its
// operations are POST /v1/<operation> and its CloudWatch Logs calls POST / told apart by
// X-Amz-Target, described by AWS's own models (botocore's batch and logs), which the AWS
// CLI and SDKs already hold; an OpenAPI operation per path could not tell those calls
// apart, so the two patterns are left out.
func notAPI(pattern string) bool {
	return slices.Contains([]string{"GET /{$}", "GET /ui/", "/api/", "/v1/", "/{$}"}, pattern)
}

// TestOpenAPIRoutes checks that every route the API's mux serves is described and every
// described route is served, by the pattern it is described under.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	f, body := described(t)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != OpenAPIVersion {
		t.Errorf("openapi %q; want %s", doc.OpenAPI, OpenAPIVersion)
	}
	described := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			described[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, pattern := range f.api.mux.patterns {
		if notAPI(pattern) {
			continue
		}
		docPattern := pathParam.ReplaceAllString(pattern, "{$1}")
		served[docPattern] = true
		if !described[docPattern] {
			t.Errorf("%s is served but not described: register it in the route table (endpoints, routes.go) with its types", pattern)
		}
	}
	for op := range described {
		if !served[op] {
			t.Errorf("%s is described but not served", op)
			continue
		}
		// A request to the path reaches the pattern it is described under.
		method, path, _ := strings.Cut(op, " ")
		req := httptest.NewRequest(method, pathParam.ReplaceAllString(path, "x1"), nil)
		if _, pattern := f.api.mux.Handler(req); pathParam.ReplaceAllString(pattern, "{$1}") != op {
			t.Errorf("%s %s reaches %q; want %s", method, req.URL.Path, pattern, op)
		}
	}
	if len(described) < 20 {
		t.Errorf("only %d operations described", len(described))
	}
}

// TestOpenAPIFile checks that docs/openapi.json is the description the server serves.
// go test ./internal/api -run TestOpenAPIFile -update rewrites it.
func TestOpenAPIFile(t *testing.T) {
	t.Parallel()
	f, _ := described(t)
	want, err := MarshalOpenAPI(f.api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(openAPIFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/openapi.json is not the description the route table makes; run go test ./internal/api -run TestOpenAPIFile -update")
	}
}

// validator compiles the schemas of a description.
type validator struct {
	t *testing.T
	c *jsonschema.Compiler
}

const docURL = "https://docket.dev/openapi.json"

func newValidator(t *testing.T, doc []byte) *validator {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, v); err != nil {
		t.Fatal(err)
	}
	return &validator{t: t, c: c}
}

// check validates a JSON document against the schema at pointer (a JSON pointer into the
// description, its parts unescaped).
func (v *validator) check(what string, body []byte, pointer ...string) {
	v.t.Helper()
	for i, p := range pointer {
		pointer[i] = strings.NewReplacer("~", "~0", "/", "~1").Replace(p)
	}
	sch, err := v.c.Compile(docURL + "#/" + strings.Join(pointer, "/"))
	if err != nil {
		v.t.Fatalf("%s: compile the schema: %v", what, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		v.t.Fatalf("%s: the body is not JSON: %v: %.200s", what, err, body)
	}
	if err := sch.Validate(inst); err != nil {
		v.t.Errorf("%s does not match its description: %v\nbody: %.400s", what, err, body)
	}
}

// TestOpenAPIExamples sends a request to every described operation and checks the answer
// (and the request's body) against the description: each success against its status's
// schema, each error against the error schema. An operation without an example here fails.
func TestOpenAPIExamples(t *testing.T) {
	t.Parallel()
	f, doc := described(t)
	v := newValidator(t, doc)
	ctx := context.Background()
	put := func(path, body string) {
		t.Helper()
		if status, b := f.call(t, "PUT", path, "application/yaml", body); status >= 300 {
			t.Fatalf("PUT %s: %d %s", path, status, b)
		}
	}
	put("/api/v1/jobs/nightly", goodJob)
	put("/api/v1/jobs/gone", strings.Replace(goodJob, "name: nightly", "name: gone", 1))
	// A run that ran and reported, and one still running, with ids of the fixture's clock.
	done := f.startedRun(t, "")
	if _, err := f.store.ReportPut(ctx, job.Report{RunID: done.ID, Metrics: map[string]float64{"records_read": 12},
		Result: json.RawMessage(`{"rows":12}`), Checkpoint: json.RawMessage(`{"offset":3}`), UpdatedAt: f.now}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RunTransition(ctx, job.Transition{RunID: done.ID, From: job.StateRunning, To: job.StateSucceeded, Time: f.now.Add(time.Minute), Reason: "Completed"}); err != nil {
		t.Fatal(err)
	}
	running := f.startedRun(t, "")
	if err := f.store.LogAppend(ctx, done.ID, []byte("epoch 1\n")); err != nil {
		t.Fatal(err)
	}
	// An array run for its results, and a blob named as an input file of the run that ran
	// (uploaded by the examples below, before it is read).
	status, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"tasks": 2}`)
	var array job.Run
	if err := json.Unmarshal(body, &array); status != http.StatusCreated || err != nil {
		t.Fatalf("submit an array: %d %s", status, body)
	}
	blob := "shard 1\n"
	sum := sha256.Sum256([]byte(blob))
	sha := hex.EncodeToString(sum[:])
	if err := f.store.RunFilesPut(ctx, store.FileInput, map[string][]job.File{done.ID: {{Path: "shard.txt", SHA256: sha, Size: int64(len(blob)), Mode: 0o644}}}, f.now); err != nil {
		t.Fatal(err)
	}
	spec, err := json.Marshal(map[string]any{"image": "python:3.12", "cpu": "1", "memory": "1Gi", "schedule": "@daily", "deadline": "2h", "env": map[string]string{"A": "1"}})
	if err != nil {
		t.Fatal(err)
	}

	examples := []struct {
		method, path, contentType, body string
		status                          int
	}{
		{"PUT", "/api/v1/jobs/{name}", "application/json", string(spec), 201},
		{"PUT", "/api/v1/jobs/{name}", "application/json", `{"image": 1}`, 400},
		{"GET", "/api/v1/jobs", "", "", 200},
		{"GET", "/api/v1/jobs?limit=1&recent=3", "", "", 200},
		{"GET", "/api/v1/jobs/{name}", "", "", 200},
		{"GET", "/api/v1/jobs/absent", "", "", 404},
		{"POST", "/api/v1/jobs/{name}/suspend", "", "", 200},
		{"POST", "/api/v1/jobs/{name}/resume", "", "", 200},
		{"POST", "/api/v1/jobs/{name}/runs", "application/json", `{"env": {"A": "2"}, "trigger": "manual"}`, 201},
		{"POST", "/api/v1/jobs/{name}/runs", "application/json", `{"inputs": ["a.csv", "b.csv"], "parallelism": 1, "max_failed": 1}`, 201},
		{"POST", "/api/v1/jobs/{name}/runs", "application/json", `{"tasks": 10001}`, 400},
		{"GET", "/api/v1/jobs/{name}/series", "", "", 200},
		{"GET", "/api/v1/jobs/{name}/series?limit=0", "", "", 400},
		{"PUT", "/api/v1/queues/gpu", "application/json", `{"max_running": 4, "priority": 10}`, 201},
		{"PUT", "/api/v1/queues/gpu?dry_run=true", "application/json", `{"max_running": 2}`, 200},
		{"PUT", "/api/v1/queues/gpu", "application/json", `{"max_running": -1}`, 400},
		{"GET", "/api/v1/queues", "", "", 200},
		{"GET", "/api/v1/queues/gpu", "", "", 200},
		{"PUT", "/api/v1/queues/spare", "application/json", `{"max_running": 1}`, 201},
		{"DELETE", "/api/v1/queues/spare", "", "", 204},
		{"GET", "/api/v1/queues/absent", "", "", 404},
		{"GET", "/api/v1/runs?job=nightly", "", "", 200},
		{"GET", "/api/v1/runs/{id}", "", "", 200},
		{"GET", "/api/v1/runs/{id}/events", "", "", 200},
		{"GET", "/api/v1/runs/{id}/logs", "", "", 200},
		{"POST", "/api/v1/runs/" + running.ID + "/report", "application/json", `{"metrics": {"loss": 0.5}, "result": {"ok": true}}`, 200},
		{"GET", "/api/v1/runs/{id}/report", "", "", 200},
		{"GET", "/api/v1/runs/{id}/checkpoint", "", "", 200},
		{"PUT", "/api/v1/blobs/" + sha + "?size=8", "application/octet-stream", blob, 200},
		{"PUT", "/api/v1/blobs/" + sha + "?size=9", "application/octet-stream", blob + "x", 409},
		{"HEAD", "/api/v1/blobs/" + sha, "", "", 200},
		{"GET", "/api/v1/blobs/" + sha, "", "", 200},
		{"GET", "/api/v1/runs/{id}/files", "", "", 200},
		{"GET", "/api/v1/runs/{id}/inputs/" + sha, "", "", 200},
		{"PUT", "/api/v1/runs/" + running.ID + "/outputs?path=out.txt&size=8&sha256=" + sha, "application/octet-stream", blob, 200},
		{"GET", "/api/v1/runs/" + array.ID + "/results", "", "", 200},
		{"GET", "/api/v1/runs/{id}/results", "", "", 409},
		{"GET", "/api/v1/runs/" + array.ID + "/tasks/1/start?attempt=1", "", "", 200},
		{"GET", "/api/v1/runs/" + array.ID + "/tasks/2/start", "", "", 400},
		{"POST", "/api/v1/runs/" + running.ID + "/cancel", "", "", 200},
		{"GET", "/api/v1/runs/{id}/steps/extract/result", "", "", 404},
		{"POST", "/api/v1/runs/" + running.ID + "/retry", "", "", 409},
		{"GET", "/api/v1/whoami", "", "", 200},
		{"GET", "/api/v1/openapi.json", "", "", 200},
		{"DELETE", "/api/v1/jobs/gone", "", "", 204},
		{"GET", "/healthz", "", "", 200},
		{"GET", "/readyz", "", "", 200},
		{"GET", "/metrics", "", "", 200},
	}
	var paths map[string]map[string]any
	if err := json.Unmarshal(doc, &struct {
		Paths *map[string]map[string]any `json:"paths"`
	}{&paths}); err != nil {
		t.Fatal(err)
	}
	tried := map[string]bool{}
	for _, ex := range examples {
		path := strings.NewReplacer("{name}", "nightly", "{id}", done.ID).Replace(ex.path)
		status, body := f.call(t, ex.method, path, ex.contentType, ex.body)
		what := fmt.Sprintf("%s %s (%d)", ex.method, path, status)
		if status != ex.status {
			t.Errorf("%s; want %d: %.300s", what, ex.status, body)
			continue
		}
		op := matchOperation(paths, ex.method, strings.TrimSuffix(strings.Split(path, "?")[0], "/"))
		if op == "" {
			t.Errorf("%s matches no described operation", what)
			continue
		}
		tried[op] = true
		opPath, method, _ := strings.Cut(op, " ")
		operation := paths[opPath][method].(map[string]any)
		if ex.body != "" && status < 400 && ex.contentType == "application/json" {
			v.check(what+" request body", []byte(ex.body), "paths", opPath, method, "requestBody", "content", "application/json", "schema")
		}
		responses := operation["responses"].(map[string]any)
		code := fmt.Sprint(status)
		resp, ok := responses[code].(map[string]any)
		if !ok {
			if status < 400 {
				t.Errorf("%s: status %d is not described", what, status)
				continue
			}
			code, resp = "default", responses["default"].(map[string]any)
		}
		content, _ := resp["content"].(map[string]any)
		switch {
		case content == nil && len(body) > 0:
			t.Errorf("%s: a body where none is described: %.100s", what, body)
		case content["application/json"] != nil:
			v.check(what, body, "paths", opPath, method, "responses", code, "content", "application/json", "schema")
		}
	}
	for path, item := range paths {
		for method := range item {
			if !tried[path+" "+method] {
				t.Errorf("%s %s has no example here: add one to TestOpenAPIExamples", strings.ToUpper(method), path)
			}
		}
	}
}

// matchOperation finds the described operation a request's path is one of ("PATH
// method"), its wildcards matching one segment each.
func matchOperation(paths map[string]map[string]any, method, path string) string {
	segs := strings.Split(path, "/")
	for p, item := range paths {
		if _, ok := item[strings.ToLower(method)]; !ok {
			continue
		}
		want := strings.Split(p, "/")
		if len(want) != len(segs) {
			continue
		}
		match := true
		for i := range want {
			if !strings.HasPrefix(want[i], "{") && want[i] != segs[i] {
				match = false
				break
			}
		}
		if match {
			return p + " " + strings.ToLower(method)
		}
	}
	return ""
}

// TestOpenAPISchemas checks every component against its Go type both ways: a value with
// every field set validates (no field is missing from the schema) and so does the zero
// value (no field is required that may be left out).
func TestOpenAPISchemas(t *testing.T) {
	t.Parallel()
	f, doc := described(t)
	v := newValidator(t, doc)
	s := &schemas{components: map[string]any{}}
	var types []reflect.Type
	for _, e := range f.api.endpoints() {
		for _, ty := range []reflect.Type{e.doc.body, e.doc.returns} {
			if ty != nil {
				types = append(types, ty)
			}
		}
	}
	types = append(types, typeOf[errorBody]())
	var described struct {
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &described); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ty := range types {
		for _, input := range []bool{false, true} {
			if ty.Kind() != reflect.Struct {
				continue
			}
			name := componentName(ty, input)
			if seen[name] || described.Components.Schemas[name] == nil {
				continue
			}
			seen[name] = true
			s.ref(ty, input)
			full := reflect.New(ty)
			fill(full.Elem(), 0)
			zero := reflect.New(ty)
			validStates(zero.Elem())
			for what, val := range map[string]any{"full": full.Interface(), "zero": zero.Interface()} {
				if what == "zero" && input {
					continue // a request's required fields are checked by its handler
				}
				body, err := json.Marshal(val)
				if err != nil {
					t.Fatal(err)
				}
				v.check(fmt.Sprintf("a %s %s", what, name), body, "components", "schemas", name)
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d components checked", len(seen))
	}
}

// validStates sets the run states among v's fields (a zero struct's) to one that is valid,
// so the zero value checks which fields are required, not which values are.
func validStates(v reflect.Value) {
	switch {
	case v.Type() == stateType:
		v.SetString(string(job.StateQueued))
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				validStates(v.Field(i))
			}
		}
	}
}

// fill sets every field of v, as deep as a few levels.
func fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Type() {
	case timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)))
		return
	case rawType:
		v.SetBytes([]byte(`{"a":[1,"b"]}`))
		return
	case stateType:
		v.SetString(string(job.StateRunning))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf("x"))
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	}
}
