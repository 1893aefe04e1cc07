package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"docket.dev/docket/internal/store"
)

func shaOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestBlobUpload: a blob sent in two parts (an upload cut off, then resumed from what
// HEAD says was received) is complete once checked; sending it again stores nothing; a
// body that is not what its name says is refused and dropped; a run names uploaded
// blobs as its files, refusing unknown blobs, unsafe paths and files past the run's
// limit (413 naming the file).
func TestBlobUpload(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.api.opts.MaxInputRun = 20
	content := "id,score\n1,0.5\n"
	sha := shaOf(content)
	put := func(sha string, size, offset int, body string) (int, []byte) {
		return f.call(t, "PUT", fmt.Sprintf("/api/v1/blobs/%s?size=%d&offset=%d", sha, size, offset), "application/octet-stream", body)
	}
	if code, body := put(sha, len(content), 0, content[:5]); code != 200 || !strings.Contains(string(body), `"received":5,"complete":false`) {
		t.Fatalf("first part: %d %s", code, body)
	}
	if code, _ := put(sha, len(content), 0, content); code != http.StatusConflict {
		t.Errorf("from 0 again: %d; want 409 with the offset to resume from", code)
	}
	req, _ := http.NewRequest("HEAD", f.srv.URL+"/api/v1/blobs/"+sha, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Docket-Blob-Received") != "5" {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	if code, body := put(sha, len(content), 5, content[5:]); code != 200 || !strings.Contains(string(body), `"complete":true`) {
		t.Fatalf("rest: %d %s", code, body)
	}
	if code, body := put(sha, len(content), 0, content); code != 200 || !strings.Contains(string(body), `"complete":true`) {
		t.Errorf("again: %d %s", code, body)
	}
	if code, body := f.call(t, "GET", "/api/v1/blobs/"+sha, "", ""); code != 200 || string(body) != content {
		t.Errorf("download: %d %q", code, body)
	}
	wrong := shaOf("something else")
	if code, body := put(wrong, len(content), 0, content); code != 400 || !strings.Contains(string(body), `"field":"sha256"`) {
		t.Errorf("mismatch: %d %s; want 400 on sha256", code, body)
	}
	if b, _ := f.store.BlobStat(t.Context(), wrong); b.Received != 0 {
		t.Errorf("a mismatched upload kept %d bytes", b.Received)
	}
	// A size claimed with no bytes sent does not hold the name: the real size begins it again.
	other := "a,b\n"
	if code, body := put(shaOf(other), 1, 0, ""); code != 200 {
		t.Fatalf("claim of a wrong size: %d %s", code, body)
	}
	if code, body := put(shaOf(other), len(other), 0, other); code != 200 || !strings.Contains(string(body), `"complete":true`) {
		t.Errorf("upload at the real size after a wrong claim: %d %s; want it complete", code, body)
	}
	f.api.opts.MaxInputFile = 10
	if code, body := put(shaOf("x"), 11, 0, ""); code != 413 || !strings.Contains(string(body), "at most 10") {
		t.Errorf("a file past the limit: %d %s; want 413", code, body)
	}

	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	file := func(path, sha string, size int) string {
		return fmt.Sprintf(`{"path": %q, "sha256": %q, "size": %d}`, path, sha, size)
	}
	for _, tc := range []struct{ files, field string }{
		{file("../x", sha, len(content)), "files[0].path"},
		{file("/etc/x", sha, len(content)), "files[0].path"},
		{file("a/../../x", sha, len(content)), "files[0].path"},
		{file(".git/config", sha, len(content)), "files[0].path"},
		{file("a.csv", wrong, len(content)), "files[0].sha256"},
		{file("a.csv", sha, 3), "files[0].size"},
		{file("a.csv", sha, len(content)) + "," + file("b.csv", sha, len(content)), "files[1]"},
	} {
		code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"files": [`+tc.files+`]}`)
		var e struct{ Error struct{ Field string } }
		_ = json.Unmarshal(body, &e)
		if code/100 != 4 || e.Error.Field != tc.field {
			t.Errorf("%s: %d %s; want a 4xx naming %s", tc.files, code, body, tc.field)
		}
	}
	// A dry run's files need not be uploaded yet, but are checked as a run's are.
	if code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs?dry_run=true", "application/json", `{"files": [`+file("a.csv", wrong, len(content))+`]}`); code != 200 {
		t.Errorf("dry run of a file not uploaded: %d %s; want 200", code, body)
	}
	for _, files := range []string{file("a.csv", sha, 3), file("../x", wrong, 1), file("a.csv", wrong, 21), file("a.csv", wrong, 25) + "," + file("b.csv", wrong, -10)} {
		if code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs?dry_run=true", "application/json", `{"files": [`+files+`]}`); code/100 != 4 {
			t.Errorf("dry run of %s: %d %s; want a 4xx", files, code, body)
		}
	}
	code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"files": [`+file("data/a.csv", sha, len(content))+`]}`)
	var run struct{ ID string }
	if err := json.Unmarshal(body, &run); err != nil || code != 201 {
		t.Fatalf("submit: %d %s", code, body)
	}
	code, body = f.call(t, "GET", "/api/v1/runs/"+run.ID+"/files", "", "")
	if code != 200 || !strings.Contains(string(body), `"inputs":[{"path":"data/a.csv","sha256":"`+sha) {
		t.Errorf("files: %d %s", code, body)
	}
	if files, _ := f.store.RunFiles(t.Context(), run.ID, store.FileInput); len(files) != 1 {
		t.Errorf("stored files %v", files)
	}
	// One file to each task: each task's file is held to the run's limit (20 bytes here)
	// beside the files every task gets, not with the other tasks' files.
	taskFile := func(path string) string { return file(path, shaOf(other), len(other)) } // 4 bytes each
	if code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs?dry_run=true", "application/json",
		`{"files": [`+file("a.csv", sha, len(content))+`], "task_files": [`+taskFile("t0")+`,`+taskFile("t1")+`]}`); code != 200 {
		t.Errorf("two tasks' files each within the limit beside the shared one (15 + 4 bytes): %d %s; want 200", code, body)
	}
	// An idempotency key names the request with its files: the same files answer the
	// same run, others are another request.
	withKey := func(files string) int {
		code, _ := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{"files": [`+files+`]}`, "Idempotency-Key", "files-1")
		return code
	}
	if first, again, other, none := withKey(file("a.csv", sha, len(content))), withKey(file("a.csv", sha, len(content))), withKey(file("a.csv", shaOf(other), len(other))), withKey(""); first != 201 || again != 200 || other != http.StatusConflict || none != http.StatusConflict {
		t.Errorf("one key with files: %d, then the same %d, then other files %d, then none %d; want 201, 200, 409, 409", first, again, other, none)
	}
}

// TestOutputRefused: an output file is kept only for an active run, under a safe path.
func TestOutputRefused(t *testing.T) {
	t.Parallel()
	f := setup(t)
	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	_, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json", `{}`)
	var run struct{ ID string }
	if err := json.Unmarshal(body, &run); err != nil {
		t.Fatal(err)
	}
	sha := shaOf("x")
	for _, tc := range []struct {
		path string
		code int
	}{{"../out.txt", 400}, {"/out.txt", 400}, {"out.txt", 409}} {
		code, body := f.call(t, "PUT", fmt.Sprintf("/api/v1/runs/%s/outputs?path=%s&sha256=%s&size=1", run.ID, tc.path, sha), "application/octet-stream", "x")
		if code != tc.code {
			t.Errorf("output %s: %d %s; want %d", tc.path, code, body, tc.code)
		}
	}
	if _, err := f.store.BlobStat(t.Context(), sha); err == nil {
		t.Errorf("a refused output file was stored")
	}
}

// TestBlobSenders: a blob being sent is its sender's token's. Another token's upload of
// the same name is a 409 that says so, with Retry-After and what has arrived; its bytes
// do not reset, extend or drop the first sender's, who completes the blob; then it is
// everyone's. Once the first sender has sent nothing for store.BlobIdle, another begins
// it again.
func TestBlobSenders(t *testing.T) {
	t.Parallel()
	f, secrets := setupAuth(t)
	content := "id,score\n1,0.5\n"
	sha := shaOf(content)
	put := func(role string, size, offset int, body string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest("PUT", fmt.Sprintf("%s/api/v1/blobs/%s?size=%d&offset=%d", f.srv.URL, sha, size, offset), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+secrets[role])
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	if code, _, body := put("editor", len(content), 0, content[:5]); code != 200 {
		t.Fatalf("first part: %d %s", code, body)
	}
	for _, tc := range []struct {
		what         string
		size, offset int
		body         string
	}{
		{"another size", len(content) + 1, 0, ""},
		{"the same size from 0", len(content), 0, strings.Repeat("x", len(content))},
		{"the rest, wrong", len(content), 5, strings.Repeat("x", len(content)-5)},
	} {
		code, h, body := put("admin", tc.size, tc.offset, tc.body)
		if code != http.StatusConflict || !strings.Contains(body, `"code":"busy"`) || !strings.Contains(body, "another client is sending") ||
			h.Get("Retry-After") == "" || h.Get("Docket-Blob-Received") != "5" {
			t.Errorf("another token sends %s: %d %v %s; want 409 busy, Retry-After, 5 received", tc.what, code, h, body)
		}
		if strings.Contains(body, "editor-user") {
			t.Errorf("the answer names the other sender: %s", body)
		}
	}
	if code, _, body := put("editor", len(content), 5, content[5:]); code != 200 || !strings.Contains(body, `"complete":true`) {
		t.Fatalf("the first sender resumes: %d %s; want it complete", code, body)
	}
	if code, _, body := put("admin", len(content), 0, content); code != 200 || !strings.Contains(body, `"complete":true`) {
		t.Errorf("another token, once complete: %d %s; want 200, complete", code, body)
	}

	stale := shaOf("a,b\n")
	if code, body := f.call(t, "PUT", "/api/v1/blobs/"+stale+"?size=4", "application/octet-stream", "a,", "Authorization", "Bearer "+secrets["editor"]); code != 200 {
		t.Fatalf("first part of another blob: %d %s", code, body)
	}
	f.now = f.now.Add(store.BlobIdle + time.Second)
	if code, body := f.call(t, "PUT", "/api/v1/blobs/"+stale+"?size=4", "application/octet-stream", "a,b\n", "Authorization", "Bearer "+secrets["admin"]); code != 200 || !strings.Contains(string(body), `"complete":true`) {
		t.Errorf("another token after the first was still for %v: %d %s; want it begun again and complete", store.BlobIdle, code, body)
	}
}

// TestBlobHeld: a token holds at most --max-held-uploads bytes of files no run names; past
// it an upload is a 413 naming size, saying how much is held, until a run names some.
func TestBlobHeld(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.api.opts.MaxHeld = 20
	content, more := "id,score\n1,0.5\n", "0123456789"
	put := func(body string) (int, string) {
		code, b := f.call(t, "PUT", fmt.Sprintf("/api/v1/blobs/%s?size=%d", shaOf(body), len(body)), "application/octet-stream", body)
		return code, string(b)
	}
	if code, body := put(content); code != 200 {
		t.Fatalf("first file: %d %s", code, body)
	}
	if code, body := put(more); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"code":"quota"`) || !strings.Contains(body, `"field":"size"`) ||
		!strings.Contains(body, "15 bytes of files no run names yet, 25 with this one; at most 20") {
		t.Errorf("past the limit: %d %s; want 413 quota on size, saying what is held", code, body)
	}
	if code, body := f.call(t, "PUT", "/api/v1/jobs/nightly", "application/yaml", goodJob); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	if code, body := f.call(t, "POST", "/api/v1/jobs/nightly/runs", "application/json",
		fmt.Sprintf(`{"files": [{"path": "a.csv", "sha256": %q, "size": %d}]}`, shaOf(content), len(content))); code != 201 {
		t.Fatalf("submit: %d %s", code, body)
	}
	if code, body := put(more); code != 200 {
		t.Errorf("once a run names the first file: %d %s; want 200", code, body)
	}
}
