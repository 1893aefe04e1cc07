package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestWebUIWorkflow draws a failed workflow run's graph in headless Chromium: a box per
// step coloured by its state, an arrow per need, each box a link to the step's run; the
// jobs page's strip shows the workflow run, not its steps; the failed run offers Resume.
func TestWebUIWorkflow(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	dir := t.TempDir()
	pathEnv := "PATH=" + filepath.Dir(binary) + string(os.PathListSeparator) + os.Getenv("PATH")
	s := startServerEnv(t, []string{pathEnv}, filepath.Join(dir, "data"), "--executor", "process")
	if _, stderr, code := s.cli("apply", "-f", writeFile(t, dir, "pipeline.yaml", fmt.Sprintf(workflowFile, dir))); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	wf := s.waitTerminal(s.submit("pipeline").ID, time.Minute)
	steps := stepsOf(t, s, wf.ID)

	var boxes, edges int
	var states, trainState, resume string
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/runs/"+wf.ID),
		chromedp.WaitVisible(`#workflow-graph`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#workflow-graph a[data-step]').length`, &boxes),
		chromedp.Evaluate(`document.querySelectorAll('#workflow-graph path.edge').length`, &edges),
		chromedp.Evaluate(`[...document.querySelectorAll('#workflow-graph a[data-step]')].map(a => a.dataset.step + '=' + a.dataset.state).join(' ')`, &states),
		chromedp.Evaluate(`(document.querySelector('button[data-action="retry"]') || {}).textContent || ""`, &resume),
	); err != nil {
		t.Fatalf("draw the graph: %v", err)
	}
	if resume != "Resume" {
		t.Errorf("the failed workflow's page offers %q; want a Resume button", resume)
	}
	if boxes != 6 || edges != 6 {
		t.Errorf("the graph has %d boxes and %d arrows; want 6 and 6", boxes, edges)
	}
	for _, want := range []string{"extract=succeeded", "train=failed", "evaluate-a=skipped", "evaluate-b=skipped", "publish=skipped", "notify=succeeded"} {
		if !strings.Contains(states, want) {
			t.Errorf("the graph's boxes %q lack %s", states, want)
		}
	}
	img := screenshot(t, ctx, "workflow-graph")
	if n := pixels(img, failedRed); n < 2000 {
		t.Errorf("the graph shows no failed box (%d red pixels)", n)
	}
	if n := pixels(img, succeededGreen); n < 4000 {
		t.Errorf("the graph shows fewer than two succeeded boxes (%d green pixels)", n)
	}
	// A box is a link to its step's run.
	var hash string
	if err := step(t, ctx,
		chromedp.Click(`#workflow-graph a[data-step="train"] rect`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('.sub') && document.querySelector('.sub').textContent.includes('step train of')`, nil),
		chromedp.Evaluate(`location.hash`, &hash),
		chromedp.Text(`.sub`, &trainState, chromedp.ByQuery),
	); err != nil {
		t.Fatalf("follow the train box: %v", err)
	}
	if hash != "#/runs/"+steps["train"].ID || !strings.Contains(trainState, "step train of") {
		t.Errorf("the train box led to %s (%q); want train's run %s", hash, trainState, steps["train"].ID)
	}
	var strip int
	if err := step(t, ctx,
		chromedp.Navigate(s.URL+"/#/jobs"),
		chromedp.WaitVisible(`tr[data-job="pipeline"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('.strip[data-job="pipeline"] a').length`, &strip),
	); err != nil {
		t.Fatal(err)
	}
	if strip != 1 {
		t.Errorf("the jobs page's strip shows %d runs of pipeline; want its one workflow run", strip)
	}
	screenshot(t, ctx, "workflow-jobs")
}
