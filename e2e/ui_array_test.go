package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUIArray shows an array run in headless Chromium: its progress in words and as a
// bar, a grid of its tasks coloured by state, each a link to the task's run, and the
// input files it was given; its button runs the failed task again as a new array run.
func TestWebUIArray(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	dir := t.TempDir()
	s := startServer(t, dir+"/data")
	def := writeFile(t, dir, "grid.yaml", `name: ui-grid
image: busybox
command: ["sh", "-c", "test -f notes.txt && test $DOCKET_TASK_INDEX != 2"]
cpu: 100m
memory: 64Mi
`)
	if _, errOut, code := s.cli("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	notes := writeFile(t, dir, "notes.txt", "hello")
	_, errOut, _ := s.cli("run", "ui-grid", "--array", "6", "--max-failed", "1", "--file", notes, "--wait")
	m := regexp.MustCompile(`run (\S+) of ui-grid submitted`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("no run id in:\n%s", errOut)
	}
	id := m[1]
	s.waitTerminal(id, 30*time.Second)

	var words, failed, inputs, title string
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/runs/"+id),
		chromedp.WaitVisible("#task-grid", chromedp.ByQuery),
		chromedp.Poll(`document.querySelectorAll('#task-grid a').length === 6`, nil),
		chromedp.Text("#array-words", &words, chromedp.ByQuery),
		chromedp.AttributeValue(`#task-grid a[data-index="2"]`, "data-state", &failed, nil, chromedp.ByQuery),
		chromedp.Text("#inputs", &inputs, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('#array-progress [data-part="succeeded"]').getBoundingClientRect().width > 0`, nil),
	); err != nil {
		t.Fatalf("the array's page: %v", err)
	}
	if !strings.HasPrefix(words, "5/6 succeeded, 1 failed") {
		t.Errorf("progress reads %q", words)
	}
	if failed != "failed" {
		t.Errorf("task 2 is drawn %q; want failed", failed)
	}
	if !strings.Contains(inputs, "notes.txt") || !strings.Contains(inputs, "5 bytes") {
		t.Errorf("input files read %q", inputs)
	}
	img := screenshot(t, ctx, "array")
	if n := pixels(img, failedRed); n < 50 {
		t.Errorf("the array's screenshot shows no failed task (%d red pixels)", n)
	}
	// Task 2's cell links to its own run's page.
	var href string
	if err := step(t, ctx, chromedp.AttributeValue(`#task-grid a[data-index="2"]`, "href", &href, nil, chromedp.ByQuery)); err != nil {
		t.Fatalf("task 2's link: %v", err)
	}
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/"+href),
		evalUntil(`!document.querySelector("h1").textContent.includes("`+id+`") && document.querySelector("#timeline li") !== null`),
		chromedp.Text("h1", &title, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("open task 2: %v", err)
	}
	if strings.Contains(title, id) || !strings.Contains(title, "failed") {
		t.Errorf("task 2's page is titled %q; want its own failed run", title)
	}

	// Run the failed task again from the array's page: a new array run resumes this one,
	// with the same input files, task 2 run again (and failing again), the rest carried over.
	var hash, sub string
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/runs/"+id),
		chromedp.WaitVisible(`button[data-action="retry"]`, chromedp.ByQuery),
		chromedp.Click(`button[data-action="retry"]`, chromedp.ByQuery),
		chromedp.WaitVisible("#confirm-yes", chromedp.ByQuery),
		chromedp.Click("#confirm-yes", chromedp.ByQuery),
		evalUntil(`location.hash !== "#/runs/`+id+`" && (document.querySelector("h1") || {}).textContent?.includes(location.hash.slice(7))`),
		chromedp.Evaluate(`location.hash`, &hash),
		evalUntil(`(document.querySelector("#array-words") || {}).textContent?.startsWith("5/6 succeeded, 1 failed")`),
		chromedp.Text("p.sub", &sub, chromedp.ByQuery),
		chromedp.Text("#inputs", &inputs, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("run the failed task again: %v", err)
	}
	next := strings.TrimPrefix(hash, "#/runs/")
	if r := s.run(next); r.ResumedFrom != id || r.Group == nil || r.Group.Size != 6 {
		t.Errorf("the run the button made: %+v; want a resume of %s", r, id)
	}
	if !strings.Contains(sub, "resuming") {
		t.Errorf("the new run's page does not link the run it resumes: %q", sub)
	}
	if !strings.Contains(inputs, "notes.txt") {
		t.Errorf("the new run's input files read %q; want notes.txt", inputs)
	}
}

// evalUntil evaluates a JavaScript condition from the test, again and again, until it
// holds (or the step's time is up). A poll run inside the page waits on the page's
// animation frames, which may stop after a screenshot, or on its timers, which a busy
// browser was seen not to run for 30 s; this one sees the page as it is at each try.
func evalUntil(cond string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		for {
			var ok bool
			if err := chromedp.Evaluate("Boolean("+cond+")", &ok).Do(ctx); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}
