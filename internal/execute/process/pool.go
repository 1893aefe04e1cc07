package process

import (
	"log/slog"
	"sync"
	"time"
)

// keeperIdle is how long a keeper waits for another run before it is ended: a busy
// server keeps a keeper per run it may hold at once, an idle one none.
const keeperIdle = time.Minute

// pool holds the keepers waiting for a run.
type pool struct {
	program string
	log     *slog.Logger
	grace   time.Duration
	max     int
	now     func() time.Time

	mu     sync.Mutex
	idle   []idleKeeper
	closed bool
}

type idleKeeper struct {
	k     *keeper
	since time.Time
}

// get returns a waiting keeper, or a new one.
func (p *pool) get() (*keeper, error) {
	p.mu.Lock()
	for len(p.idle) > 0 {
		k := p.idle[len(p.idle)-1].k
		p.idle = p.idle[:len(p.idle)-1]
		select {
		case <-k.exited:
			k.conn.Close()
			continue // it died waiting
		default:
		}
		p.mu.Unlock()
		return k, nil
	}
	p.mu.Unlock()
	return startKeeper(p.program, p.log)
}

// put takes back a keeper whose run is over: it waits for the next run, unless enough
// keepers wait already or it is not to be trusted with another.
func (p *pool) put(k *keeper, reusable bool) {
	p.mu.Lock()
	if reusable && !p.closed && len(p.idle) < p.max {
		p.idle = append(p.idle, idleKeeper{k, p.now()})
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	k.close(p.grace)
}

// prune ends the keepers that waited longer than keeperIdle.
func (p *pool) prune() {
	p.mu.Lock()
	var old []*keeper
	kept := p.idle[:0]
	for _, ik := range p.idle {
		if p.now().Sub(ik.since) >= keeperIdle {
			old = append(old, ik.k)
		} else {
			kept = append(kept, ik)
		}
	}
	p.idle = kept
	p.mu.Unlock()
	for _, k := range old {
		k.close(p.grace)
	}
}

// close ends every waiting keeper, and every one put back after.
func (p *pool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, ik := range idle {
		ik.k.close(p.grace)
	}
}
