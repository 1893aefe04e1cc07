package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store/sqlite"
)

// browser starts headless Chromium (Debian's chromium package) for a test. Without it the
// test is skipped, unless DOCKET_TEST_BROWSER=require (CI) makes that a failure.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("DOCKET_TEST_BROWSER") == "require" {
			t.Fatal("chromium is not installed (apt-get install chromium); DOCKET_TEST_BROWSER=require")
		}
		t.Skip("chromium is not installed; the web UI test needs it (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1366, 860),
		chromedp.Flag("disable-gpu", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// Newer Chromium sends DOM events this chromedp does not know; they are harmless.
	quiet := func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "unhandled node event") {
			t.Log(msg)
		}
	}
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(quiet))
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshot saves the page as NAME.png (in DOCKET_TEST_SCREENSHOTS when set, to keep them)
// and returns it decoded.
func screenshot(t *testing.T, ctx context.Context, name string) image.Image {
	t.Helper()
	var buf []byte
	if err := chromedp.Run(ctx, chromedp.CaptureScreenshot(&buf)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("DOCKET_TEST_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("screenshot %s is not a PNG: %v", path, err)
	}
	t.Logf("screenshot %s", path)
	return img
}

// step runs actions with 30s to do them. When they fail it keeps a screenshot of the page
// (failed.png) and logs the page's text, so the failure can be seen.
func step(t *testing.T, ctx context.Context, actions ...chromedp.Action) error {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := chromedp.Run(sctx, actions...)
	if err != nil {
		var text string
		if chromedp.Run(ctx, chromedp.Text("body", &text, chromedp.ByQuery)) == nil {
			t.Logf("the page when the step failed:\n%s", text)
		}
		screenshot(t, ctx, "failed")
	}
	return err
}

// pixels counts the pixels of img within a small distance of c.
func pixels(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, c.R) && near(g>>8, c.G) && near(bl>>8, c.B) {
				n++
			}
		}
	}
	return n
}

func near(v uint32, want uint8) bool { d := int(v) - int(want); return d > -12 && d < 12 }

// The state colours of app.css, as the screenshots are checked for them.
var (
	succeededGreen = color.RGBA{0x12, 0x80, 0x5c, 0xff}
	failedRed      = color.RGBA{0xc4, 0x32, 0x1f, 0xff}
	headerNavy     = color.RGBA{0x16, 0x20, 0x2f, 0xff}
)

// TestWebUI drives the web UI in headless Chromium against a real server that requires
// tokens: sign in, see the jobs with their schedules in words, run a job with a
// confirmation, watch its log arrive live and the run succeed, filter the runs, suspend a
// job and cancel a run, taking screenshots and checking what they show.
func TestWebUI(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	dir := t.TempDir()
	token, tokens := tokensFile(t, dir, "ana", "editor")
	s := startServer(t, dir+"/data", "--tokens-file", tokens)
	s.token = token
	jobs := writeFile(t, dir, "jobs.yaml", `name: ui-train
image: python:3.12
command: ["sh", "-c", "for i in 1 2 3 4 5 6; do echo epoch $i; sleep 0.5; done"]
cpu: "2"
memory: 4Gi
schedule: "30 9 * * 1-5"
timezone: Europe/Berlin
---
name: ui-broken
image: busybox
command: ["sh", "-c", "echo no input; exit 3"]
cpu: 100m
memory: 64Mi
---
name: ui-long
image: busybox
command: ["sleep", "300"]
cpu: 100m
memory: 64Mi
---
name: weekly-report
image: busybox
command: ["echo", "report"]
cpu: 100m
memory: 64Mi
after: [{job: ui-long}]
`)
	if _, errOut, code := docket(t, []string{"DOCKET_SERVER=" + s.URL, "DOCKET_TOKEN=" + token}, "apply", "-f", jobs); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	broken := s.submit("ui-broken")
	s.waitTerminal(broken.ID, 30*time.Second)

	// Sign in: the page asks for a token, since the server needs one.
	var who string
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible("#login-token", chromedp.ByQuery),
		chromedp.SendKeys("#login-token", token, chromedp.ByQuery),
		chromedp.Click("#login-ok", chromedp.ByQuery),
		chromedp.WaitVisible(`body[data-ready="true"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-job="ui-train"]`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('.strip[data-job="ui-broken"] a').length === 1`, nil),
		chromedp.Text("#who", &who, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("sign in and load the jobs: %v", err)
	}
	if !strings.Contains(who, "ana (editor)") {
		t.Errorf("signed in as %q", who)
	}
	var schedule, triggered, lastRun string
	if err := step(t, ctx,
		chromedp.Text(`tr[data-job="ui-train"] td:nth-child(2)`, &schedule, chromedp.ByQuery),
		chromedp.Text(`tr[data-job="weekly-report"] td:nth-child(2)`, &triggered, chromedp.ByQuery),
		chromedp.Text(`tr[data-job="ui-broken"] td:nth-child(4)`, &lastRun, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if schedule != "at 09:30 on weekdays (Europe/Berlin)" {
		t.Errorf("ui-train's schedule reads %q", schedule)
	}
	if triggered != "after ui-long" {
		t.Errorf("weekly-report, started by ui-long's runs, reads %q under SCHEDULE", triggered)
	}
	if !strings.Contains(lastRun, "failed") || !strings.Contains(lastRun, "exited with code 3") {
		t.Errorf("ui-broken's last run reads %q", lastRun)
	}
	img := screenshot(t, ctx, "jobs")
	if b := img.Bounds(); b.Dx() != 1366 {
		t.Errorf("the jobs screenshot is %dx%d", b.Dx(), b.Dy())
	}
	if n := pixels(img, headerNavy); n < 1366*40 {
		t.Errorf("the jobs screenshot has %d pixels of the header's colour; is the page drawn?", n)
	}
	if n := pixels(img, failedRed); n < 100 {
		t.Errorf("the jobs screenshot shows no failed badge or strip (%d red pixels)", n)
	}

	// A new run shows in its job's strip while the page is open; the strips of jobs with no
	// new run are kept as they are, not read again.
	if err := step(t, ctx, chromedp.Evaluate(`document.querySelector('.strip[data-job="ui-train"]').dataset.mark = "kept"`, nil)); err != nil {
		t.Fatal(err)
	}
	again := s.submit("ui-broken")
	s.waitTerminal(again.ID, 30*time.Second)
	var kept bool
	if err := step(t, ctx,
		chromedp.Poll(`document.querySelectorAll('.strip[data-job="ui-broken"] a.s-failed').length === 2`, nil),
		chromedp.Evaluate(`document.querySelector('.strip[data-job="ui-train"]').dataset.mark === "kept"`, &kept),
	); err != nil {
		t.Fatalf("the new run in the strip: %v", err)
	}
	if !kept {
		t.Error("the strip of ui-train, which had no new run, was drawn anew")
	}

	// Run now asks first; keeping things as they are starts nothing.
	if err := step(t, ctx,
		chromedp.Click(`tr[data-job="ui-train"] button[data-action="run"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#confirm-no", chromedp.ByQuery),
		chromedp.Click("#confirm-no", chromedp.ByQuery),
		chromedp.WaitNotVisible("#confirm", chromedp.ByQuery),
	); err != nil {
		t.Fatalf("decline the run: %v", err)
	}
	if runs := s.allRuns("job=ui-train"); len(runs) != 0 {
		t.Fatalf("declining started %d runs", len(runs))
	}
	// Confirmed, the run starts and its page follows it: the log arrives while it runs.
	var liveLog, badge string
	if err := step(t, ctx,
		chromedp.Click(`tr[data-job="ui-train"] button[data-action="run"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#confirm-yes", chromedp.ByQuery),
		chromedp.Click("#confirm-yes", chromedp.ByQuery),
		chromedp.WaitVisible("#log", chromedp.ByQuery),
		// The page redraws the run each second: it shows running within one.
		chromedp.Poll(`document.querySelector('#log').textContent.includes('epoch 2') && document.querySelector('#log-live').textContent.includes('live') && document.querySelector('h1 .badge').textContent === 'running'`, nil),
		chromedp.Text("#log", &liveLog, chromedp.ByQuery),
		chromedp.Text("h1 .badge", &badge, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("run ui-train from the UI: %v", err)
	}
	if strings.Contains(liveLog, "epoch 6") || badge != "running" {
		t.Errorf("while running, the page showed state %q and log %q", badge, liveLog)
	}
	runs := s.allRuns("job=ui-train")
	if len(runs) != 1 || runs[0].Trigger != job.TriggerManual {
		t.Fatalf("runs of ui-train after Run now: %+v", runs)
	}
	screenshot(t, ctx, "run-live")
	var reason, finalLog, timeline string
	if err := step(t, ctx,
		chromedp.WaitVisible(`h1 .badge[data-state="succeeded"]`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#log').dataset.done === 'true'`, nil),
		chromedp.Text("#run-reason", &reason, chromedp.ByQuery),
		chromedp.Text("#log", &finalLog, chromedp.ByQuery),
		chromedp.Text("#timeline", &timeline, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("watch ui-train finish: %v", err)
	}
	if reason != "Completed: exited with code 0" {
		t.Errorf("reason %q", reason)
	}
	if want := "epoch 1\nepoch 2\nepoch 3\nepoch 4\nepoch 5\nepoch 6\n"; finalLog != want {
		t.Errorf("log %q, want %q", finalLog, want)
	}
	for _, step := range []string{"queued · Submitted", "running · Started", "succeeded · Completed"} {
		if !strings.Contains(timeline, step) {
			t.Errorf("the timeline lacks %q:\n%s", step, timeline)
		}
	}
	img = screenshot(t, ctx, "run-succeeded")
	if n := pixels(img, succeededGreen); n < 100 {
		t.Errorf("the finished run's screenshot shows no succeeded badge (%d green pixels)", n)
	}

	// The job's page: its definition and its runs.
	var definition string
	var jobRuns int
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/jobs/ui-train"),
		chromedp.WaitVisible(`#runs tbody tr[data-state="succeeded"]`, chromedp.ByQuery),
		chromedp.Text(".grid", &definition, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#runs tbody tr[data-run]').length`, &jobRuns),
	); err != nil {
		t.Fatalf("the job's page: %v", err)
	}
	for _, want := range []string{"python:3.12", "cpu 2, memory 4Gi", "at 09:30 on weekdays (Europe/Berlin)", "30 9 * * 1-5"} {
		if !strings.Contains(definition, want) {
			t.Errorf("the job's page lacks %q:\n%s", want, definition)
		}
	}
	if jobRuns != 1 {
		t.Errorf("the job's page lists %d runs; want 1", jobRuns)
	}
	screenshot(t, ctx, "job")

	// The runs page filters by job and state.
	var rows int
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/runs?job=ui-broken&state=failed"),
		// The job's page before it has a runs table too: wait for this page's filters.
		chromedp.Poll(`document.querySelector('#filter-job') !== null && document.querySelectorAll('#runs tbody tr[data-run]').length > 0`, nil),
		chromedp.Evaluate(`document.querySelectorAll('#runs tbody tr[data-run]').length`, &rows),
	); err != nil {
		t.Fatalf("filter runs: %v", err)
	}
	if rows != 2 {
		t.Errorf("runs of ui-broken that failed: %d rows, want 2", rows)
	}
	screenshot(t, ctx, "runs-filtered")
	// The job is typed, and the names that hold what is typed are offered.
	var offered []string
	if err := step(t, ctx,
		chromedp.Evaluate(`document.querySelector('#filter-job').value = ""`, nil),
		chromedp.SendKeys("#filter-job", "ui-", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#job-names option').length === 3`, nil),
		chromedp.Evaluate(`[...document.querySelectorAll('#job-names option')].map(o => o.value)`, &offered),
		chromedp.SendKeys("#filter-job", "train\r", chromedp.ByQuery),
		// ui-train has no failed run.
		chromedp.Poll(`location.hash === '#/runs?job=ui-train&state=failed' && document.querySelector('#runs tbody td.empty') !== null`, nil),
	); err != nil {
		t.Fatalf("type a job's name: %v", err)
	}
	if strings.Join(offered, " ") != "ui-broken ui-long ui-train" {
		t.Errorf("typing ui- offered %v", offered)
	}

	// Suspend from the jobs page, after confirming.
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/jobs"),
		chromedp.WaitVisible(`tr[data-job="ui-train"] button[data-action="suspend"]`, chromedp.ByQuery),
		chromedp.Click(`tr[data-job="ui-train"] button[data-action="suspend"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#confirm-yes", chromedp.ByQuery),
		chromedp.Click("#confirm-yes", chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-job="ui-train"] button[data-action="resume"]`, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("suspend ui-train: %v", err)
	}
	var def struct{ Suspended bool }
	if status := s.api("GET", "/api/v1/jobs/ui-train", "", &def); status != 200 || !def.Suspended {
		t.Errorf("after Suspend: %d, suspended %v", status, def.Suspended)
	}

	// Cancel a running run from its page.
	long := s.submit("ui-long")
	waitFor(t, 30*time.Second, "ui-long to run", func() bool { return s.run(long.ID).State == job.StateRunning })
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/runs/"+long.ID),
		chromedp.WaitVisible(`button[data-action="cancel"]`, chromedp.ByQuery),
		chromedp.Click(`button[data-action="cancel"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#confirm-yes", chromedp.ByQuery),
		chromedp.Click("#confirm-yes", chromedp.ByQuery),
		chromedp.WaitVisible(`h1 .badge[data-state="cancelled"]`, chromedp.ByQuery),
		chromedp.Text("#run-reason", &reason, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("cancel ui-long: %v", err)
	}
	if !strings.Contains(reason, "cancelled by ana") {
		t.Errorf("the cancelled run's reason: %q", reason)
	}
	screenshot(t, ctx, "run-cancelled")

	// A run that is not there says so.
	var missing string
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/runs/no-such-run"),
		chromedp.WaitVisible("#page-error", chromedp.ByQuery),
		chromedp.Text("#page-error", &missing, chromedp.ByQuery),
	); err != nil {
		t.Fatal(err)
	}
	if missing != fmt.Sprintf("run %q not found", "no-such-run") {
		t.Errorf("a missing run's page: %q", missing)
	}
}

// TestWebUIManyJobs drives the jobs page of a server with tokens and 10,000 jobs (each
// with two runs) in headless Chromium: the page asks for a page of 100 jobs with their
// recent runs in one request (one request per job hit the rate limit from about 110
// jobs), pages through them, and filters them by name. Another site's page cannot show
// the UI in a frame.
func TestWebUIManyJobs(t *testing.T) {
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
	seedHistory(t, st, 10000, 20000)
	st.Close()
	token, tokens := tokensFile(t, dir, "ana", "editor")
	s := startServer(t, dir+"/data", "--tokens-file", tokens)

	// requests counts what the page asked the API for since it was loaded.
	requests := func(path string) int {
		var n int
		if err := chromedp.Run(ctx, chromedp.Evaluate(fmt.Sprintf(
			`performance.getEntriesByType("resource").filter(e => new URL(e.name).pathname === %q).length`, path), &n)); err != nil {
			t.Fatal(err)
		}
		return n
	}
	rows := `document.querySelectorAll('#jobs tbody tr[data-job]').length`
	var summary string
	var shown, strip int
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible("#login-token", chromedp.ByQuery),
		chromedp.SendKeys("#login-token", token, chromedp.ByQuery),
		chromedp.Click("#login-ok", chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-job="job-00000"]`, chromedp.ByQuery),
		chromedp.Evaluate(rows, &shown),
		chromedp.Evaluate(`document.querySelectorAll('.strip[data-job="job-00099"] a').length`, &strip),
		chromedp.Text("#jobs-summary", &summary, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("sign in and load the jobs: %v", err)
	}
	if shown != 100 || strip != 2 || !strings.HasPrefix(summary, "Jobs 1–100 (more on the next page)") {
		t.Errorf("the first page shows %d jobs, %d runs in job-00099's strip, and says %q", shown, strip, summary)
	}
	if n := requests("/api/v1/runs"); n != 0 {
		t.Errorf("the jobs page asked for runs %d times", n)
	}
	screenshot(t, ctx, "jobs-10000")

	// A refresh asks once more, and nothing is refused.
	time.Sleep(6 * time.Second)
	var toast string
	if err := step(t, ctx, chromedp.Evaluate(`document.querySelector('#toast').hidden ? "" : document.querySelector('#toast').textContent`, &toast)); err != nil {
		t.Fatal(err)
	}
	if n := requests("/api/v1/jobs"); n < 2 || n > 3 || toast != "" {
		t.Errorf("after a refresh the page had asked for jobs %d times and says %q", n, toast)
	}

	// Next, Next, Previous.
	if err := step(t, ctx,
		chromedp.Click("#jobs-next", chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-job="job-00100"]`, chromedp.ByQuery),
		chromedp.Click("#jobs-next", chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-job="job-00299"]`, chromedp.ByQuery),
		chromedp.Text("#jobs-summary", &summary, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("page forward: %v", err)
	}
	if !strings.HasPrefix(summary, "Jobs 201–300") {
		t.Errorf("the third page says %q", summary)
	}
	screenshot(t, ctx, "jobs-10000-page-3")
	if err := step(t, ctx,
		chromedp.Click("#jobs-previous", chromedp.ByQuery),
		chromedp.WaitVisible(`tr[data-job="job-00100"]`, chromedp.ByQuery),
		chromedp.Text("#jobs-summary", &summary, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("page back: %v", err)
	}
	if !strings.HasPrefix(summary, "Jobs 101–200") {
		t.Errorf("the page back says %q", summary)
	}

	// The filter narrows by name.
	for _, tt := range []struct{ typed, first, summary string }{
		{"09999", "job-09999", "1 job whose name holds “09999”"},
		{"job-099", "job-09900", "100 jobs whose name holds “job-099”"},
	} {
		if err := step(t, ctx,
			chromedp.Evaluate(`document.querySelector('#jobs-filter').value = ""`, nil),
			chromedp.SendKeys("#jobs-filter", tt.typed, chromedp.ByQuery),
			chromedp.WaitVisible(fmt.Sprintf(`tr[data-job="%s"]`, tt.first), chromedp.ByQuery),
			chromedp.Poll(`!document.querySelector('tr[data-job="job-00100"]')`, nil),
			chromedp.Text("#jobs-summary", &summary, chromedp.ByQuery),
			chromedp.Evaluate(rows, &shown),
		); err != nil {
			t.Fatalf("filter %q: %v", tt.typed, err)
		}
		if !strings.HasPrefix(summary, tt.summary) || strings.Contains(summary, "more") {
			t.Errorf("filtered by %q the page says %q (%d rows)", tt.typed, summary, shown)
		}
	}
	screenshot(t, ctx, "jobs-10000-filtered")

	// Another site frames the UI: the browser shows nothing of it.
	framer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><body style="margin:0;background:#fff"><iframe src="%s/" width="1300" height="700" style="border:0"></iframe></body>`, s.URL)
	}))
	defer framer.Close()
	if err := step(t, ctx, chromedp.Navigate(framer.URL), chromedp.WaitReady("iframe", chromedp.ByQuery), chromedp.Sleep(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := pixels(screenshot(t, ctx, "framed"), headerNavy); n > 1000 {
		t.Errorf("another site's frame shows the UI (%d pixels of its header's colour)", n)
	}
}
