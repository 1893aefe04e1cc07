package metrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeMetrics is a metrics handler whose answers take `takes` on the test's clock (and, when
// gate is set, wait for it to close first); each says which answer it is.
type fakeMetrics struct {
	clock *testClock
	takes time.Duration
	gate  chan struct{}
	calls atomic.Int32
}

func (f *fakeMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	f.clock.advance(f.takes)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "answer %d for %s\n", n, r.Header.Get("Accept"))
}

type testClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	asleep atomic.Int32
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *testClock) sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

func pacedFake(takes time.Duration) (*Paced, *fakeMetrics, *testClock) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	f := &fakeMetrics{clock: clock, takes: takes}
	p := NewPaced(f)
	p.now, p.sleep = clock.now, clock.sleep
	return p, f, clock
}

func scrape(t *testing.T, h http.Handler, accept string) (int, string) {
	t.Helper()
	r := httptest.NewRequest("GET", "/metrics", nil)
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// TestPacedReuses checks that an answer serves the same request for nine times as long as
// it took to make, with its headers, and a quick answer only briefly.
func TestPacedReuses(t *testing.T) {
	p, f, clock := pacedFake(200 * time.Millisecond)
	if _, body := scrape(t, p, ""); body != "answer 1 for \n" {
		t.Fatalf("first scrape: %q", body)
	}
	clock.advance(1799 * time.Millisecond) // under 9 x 200 ms after the answer was made
	r := httptest.NewRequest("GET", "/metrics", nil)
	w := httptest.NewRecorder()
	p.ServeHTTP(w, r)
	if w.Body.String() != "answer 1 for \n" || w.Header().Get("Content-Type") != "text/plain; version=0.0.4" || f.calls.Load() != 1 {
		t.Errorf("1.799 s after an answer of 200 ms: %q (%q), %d answers made; want the first again, with its type", w.Body.String(), w.Header().Get("Content-Type"), f.calls.Load())
	}
	clock.advance(time.Millisecond)
	if _, body := scrape(t, p, ""); body != "answer 2 for \n" {
		t.Errorf("1.8 s after an answer of 200 ms: %q; want a new one", body)
	}

	// A quick answer is reused only briefly: a small server's scrapes stay fresh.
	f.takes = time.Millisecond
	clock.advance(2 * time.Second)
	scrape(t, p, "")
	clock.advance(10 * time.Millisecond)
	if _, body := scrape(t, p, ""); body != "answer 4 for \n" {
		t.Errorf("10 ms after an answer of 1 ms: %q; want a new one (4)", body)
	}
	if len(clock.slept) != 0 {
		t.Errorf("scrapes waited %v; none had to", clock.slept)
	}
}

// TestPacedVariants checks that a request of another kind (Accept) is not answered with
// another kind's answer: it waits until a tenth of the time has gone to answers, then gets
// its own. Kinds past the fourth are made for each request, paced the same.
func TestPacedVariants(t *testing.T) {
	p, f, clock := pacedFake(100 * time.Millisecond)
	scrape(t, p, "text/plain")
	clock.advance(300 * time.Millisecond)
	if _, body := scrape(t, p, "text/plain"); body != "answer 1 for text/plain\n" {
		t.Errorf("the same kind, still fresh: %q", body)
	}
	if _, body := scrape(t, p, "application/openmetrics-text"); body != "answer 2 for application/openmetrics-text\n" {
		t.Errorf("another kind: %q", body)
	}
	if len(clock.slept) != 1 || clock.slept[0] != 600*time.Millisecond {
		t.Errorf("the second kind waited %v; want 600ms (9 x 100 ms after the first, less the 300 ms gone)", clock.slept)
	}
	for i := range 6 {
		scrape(t, p, fmt.Sprintf("kind/%d", i))
	}
	made := f.calls.Load()
	scrape(t, p, "kind/5") // the seventh kind: not kept
	if f.calls.Load() != made+1 {
		t.Errorf("a kind past the fourth was answered from a kept answer")
	}
}

// TestPacedBusy checks that scrapes past four at once get 503 and that those waiting share
// one answer.
func TestPacedBusy(t *testing.T) {
	p, f, _ := pacedFake(time.Millisecond)
	f.gate = make(chan struct{})
	var wg sync.WaitGroup
	bodies := make(chan string, maxScrapes)
	for range maxScrapes {
		wg.Go(func() {
			_, body := scrape(t, p, "")
			bodies <- body
		})
	}
	for len(p.slots) < maxScrapes {
		time.Sleep(time.Millisecond)
	}
	if code, _ := scrape(t, p, ""); code != http.StatusServiceUnavailable {
		t.Errorf("a fifth scrape at once: %d; want 503", code)
	}
	close(f.gate)
	wg.Wait()
	close(bodies)
	for body := range bodies {
		if body != "answer 1 for \n" {
			t.Errorf("a scrape that waited got %q; want the one answer made", body)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d scrapes at once made %d answers; want 1", maxScrapes, n)
	}
}
