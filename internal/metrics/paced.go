package metrics

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"sync"
	"time"
)

// Pacing of /metrics, which needs no token. A scrape gathers every series (a store read of
// each job's last finish) and encodes them: 7 - 40 ms on a server with 10,000 jobs (1.7 MB),
// where a request of another route costs well under one. Paced, whatever clients send and
// however often, answers are made one at a time and take at most a tenth of the time, and
// a scrape of a small server (a millisecond's answer) is still fresh.
const (
	// reuse is how many times as long as an answer took to make it serves the same
	// request again, and how long after it the next is made: made at most a tenth of the
	// time.
	reuse = 9
	// maxVariants is how many kinds of request (Accept, Accept-Encoding) have their
	// answer kept; others are made each time, paced the same.
	maxVariants = 4
	// maxScrapes is how many scrapes are answered or wait at once; more get 503.
	maxScrapes = 4
)

// Paced serves h (a metrics handler) paced. Make one with NewPaced.
type Paced struct {
	h     http.Handler
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
	slots chan struct{}

	mu      sync.Mutex
	next    time.Time // when the next answer may be made
	answers map[string]*answer
}

// answer is a response as h wrote it, kept to be written again until fresh passes.
type answer struct {
	status int
	header http.Header
	body   bytes.Buffer
	fresh  time.Time
}

// NewPaced returns h paced.
func NewPaced(h http.Handler) *Paced {
	return &Paced{h: h, now: time.Now, sleep: sleepCtx, slots: make(chan struct{}, maxScrapes), answers: map[string]*answer{}}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ServeHTTP answers with the answer of the same kind of request when it is fresh; else it
// waits its turn, then makes one.
func (p *Paced) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many scrapes at once; retry in a second", http.StatusServiceUnavailable)
		return
	}
	a, err := p.answer(r)
	if err != nil {
		return // the client went away while it waited
	}
	maps.Copy(w.Header(), a.header)
	w.WriteHeader(a.status)
	w.Write(a.body.Bytes())
}

func (p *Paced) answer(r *http.Request) (*answer, error) {
	key := r.Header.Get("Accept") + "\n" + r.Header.Get("Accept-Encoding")
	p.mu.Lock()
	defer p.mu.Unlock()
	if a := p.answers[key]; a != nil && p.now().Before(a.fresh) {
		return a, nil
	}
	if wait := p.next.Sub(p.now()); wait > 0 {
		if err := p.sleep(r.Context(), wait); err != nil {
			return nil, err
		}
	}
	start := p.now()
	a := &answer{status: http.StatusOK, header: http.Header{}}
	p.h.ServeHTTP(a, r)
	end := p.now()
	p.next = end.Add(reuse * end.Sub(start))
	a.fresh = p.next
	if _, kept := p.answers[key]; kept || len(p.answers) < maxVariants {
		p.answers[key] = a
	}
	return a, nil
}

// An answer is the http.ResponseWriter h writes it to.
func (a *answer) Header() http.Header         { return a.header }
func (a *answer) Write(b []byte) (int, error) { return a.body.Write(b) }
func (a *answer) WriteHeader(status int)      { a.status = status }
