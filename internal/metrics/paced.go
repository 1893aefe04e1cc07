package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// PacedGatherer gathers from a registry one scrape at a time, and hands what it gathered
// to the scrapes that come within Reuse times as long as that took. /metrics needs no
// token, and a scrape reads the store (each job's last finish, the queues' counts): on a
// server with many jobs that is a query of a few hundred milliseconds, on SQLite's one
// connection. Paced, however many clients scrape however often, gathering takes at most
// 1/(Reuse+1) of the time, and a scrape of a small server (a gather of a millisecond)
// still sees it as it is.
type PacedGatherer struct {
	Gatherer prometheus.Gatherer
	// Reuse is how many times as long as the last gather took its result is served
	// again; default 9, so gathering takes at most a tenth of the time.
	Reuse int
	// Now is the clock; default time.Now.
	Now func() time.Time

	mu       sync.Mutex
	families []*dto.MetricFamily
	err      error
	end      time.Time     // when the last gather ended; zero before the first
	took     time.Duration // how long it took
}

// Gather returns the last gather's families when it is recent enough, else gathers
// afresh. Scrapes that come during a gather wait for it and share it. The families are
// shared, so a caller only reads them (as promhttp's handler does).
func (p *PacedGatherer) Gather() ([]*dto.MetricFamily, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	reuse := p.Reuse
	if reuse <= 0 {
		reuse = 9
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.end.IsZero() && now().Sub(p.end) < time.Duration(reuse)*p.took {
		return p.families, p.err
	}
	start := now()
	p.families, p.err = p.Gatherer.Gather()
	p.end = now()
	p.took = p.end.Sub(start)
	return p.families, p.err
}
