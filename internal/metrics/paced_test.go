package metrics

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// slowGatherer counts its gathers; each takes `takes` on the test's clock, and, when
// gate is set, waits for it to close first.
type slowGatherer struct {
	clock *testClock
	takes time.Duration
	gate  chan struct{}
	calls atomic.Int32
	err   error
}

func (g *slowGatherer) Gather() ([]*dto.MetricFamily, error) {
	n := g.calls.Add(1)
	if g.gate != nil {
		<-g.gate
	}
	g.clock.advance(g.takes)
	name := "gather"
	v := float64(n)
	return []*dto.MetricFamily{{Name: &name, Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: &v}}}}}, g.err
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
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

// gathered is the number a slowGatherer's families carry: which of its gathers they are.
func gathered(t *testing.T, p *PacedGatherer) float64 {
	t.Helper()
	fs, err := p.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fs[0].Metric[0].GetGauge().GetValue()
}

// TestPacedGathererReuses checks that a gather is served again for nine times as long as
// it took, and not longer.
func TestPacedGathererReuses(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	g := &slowGatherer{clock: clock, takes: 200 * time.Millisecond}
	p := &PacedGatherer{Gatherer: g, Now: clock.now}

	if n := gathered(t, p); n != 1 {
		t.Fatalf("first scrape got gather %g", n)
	}
	clock.advance(1799 * time.Millisecond) // under 9 x 200 ms after the gather ended
	if n := gathered(t, p); n != 1 || g.calls.Load() != 1 {
		t.Errorf("a scrape 1.799 s after a gather of 200 ms got gather %g (%d gathers); want the first again", n, g.calls.Load())
	}
	clock.advance(time.Millisecond)
	if n := gathered(t, p); n != 2 {
		t.Errorf("a scrape 1.8 s after a gather of 200 ms got gather %g; want a new one", n)
	}

	// A quick gather is reused only briefly: a small server's scrapes stay fresh.
	g.takes = time.Millisecond
	clock.advance(2 * time.Second)
	gathered(t, p)
	clock.advance(10 * time.Millisecond)
	if n := gathered(t, p); n != 4 {
		t.Errorf("10 ms after a gather of 1 ms: gather %g; want a new one (4)", n)
	}
}

// TestPacedGathererShares checks that scrapes arriving while a gather runs wait for it
// and are answered with it, so concurrent scrapers cost one gather, and that a failed
// gather is paced like a good one.
func TestPacedGathererShares(t *testing.T) {
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	g := &slowGatherer{clock: clock, takes: 300 * time.Millisecond, gate: make(chan struct{}), err: errors.New("store unreachable")}
	p := &PacedGatherer{Gatherer: g, Now: clock.now}

	const scrapers = 20
	var wg sync.WaitGroup
	errs := make(chan error, scrapers)
	for range scrapers {
		wg.Go(func() {
			_, err := p.Gather()
			errs <- err
		})
	}
	for g.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the others reach the gather's lock
	close(g.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil || err.Error() != "store unreachable" {
			t.Errorf("a scrape got %v; want the gather's error", err)
		}
	}
	if n := g.calls.Load(); n != 1 {
		t.Errorf("%d scrapes at once made %d gathers; want 1", scrapers, n)
	}
}
