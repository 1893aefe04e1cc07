package lease

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"docket.dev/docket/internal/store"
)

// memStore keeps leases in memory with the store's rules; fail makes it unreachable.
type memStore struct {
	mu    sync.Mutex
	lease store.Lease
	fail  map[string]bool // holders whose calls fail
}

func (m *memStore) LeaseAcquire(_ context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail[holder] {
		return store.Lease{}, errors.New("database unreachable")
	}
	switch {
	case m.lease.Holder == holder:
		m.lease.ExpiresAt = now.Add(ttl)
	case !now.Before(m.lease.ExpiresAt):
		m.lease = store.Lease{Name: name, Holder: holder, Token: m.lease.Token + 1, ExpiresAt: now.Add(ttl)}
	}
	return m.lease, nil
}

func (m *memStore) LeaseRelease(_ context.Context, _, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lease.Holder == holder && !m.fail[holder] {
		m.lease.ExpiresAt = time.Time{}
	}
	return nil
}

func (m *memStore) setFail(holder string, fail bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail[holder] = fail
}

// terms records which holder ran the component, with which token, and when.
type terms struct {
	mu      sync.Mutex
	running map[string]bool
	log     []string
	overlap bool
}

func (r *terms) component(holder string) Component {
	return ComponentFunc(func(ctx context.Context, fence store.Fence) error {
		token := fence.Token
		r.mu.Lock()
		for h, on := range r.running {
			if on && h != holder {
				r.overlap = true
			}
		}
		r.running[holder] = true
		r.log = append(r.log, holder+" "+string(rune('0'+token)))
		r.mu.Unlock()
		<-ctx.Done()
		r.mu.Lock()
		r.running[holder] = false
		r.mu.Unlock()
		return nil
	})
}

func TestLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &memStore{fail: map[string]bool{}}
		rec := &terms{running: map[string]bool{}}
		ttl := 3 * time.Second
		leader := func(holder string) *Leader {
			return &Leader{Store: st, Component: rec.component(holder), Name: "scheduler", Holder: holder, TTL: ttl, Logger: slog.New(slog.DiscardHandler)}
		}
		ctxA, stopA := context.WithCancel(t.Context())
		ctxB, stopB := context.WithCancel(t.Context())
		defer stopB()
		go leader("a").Run(ctxA)
		synctest.Wait()
		go leader("b").Run(ctxB)
		time.Sleep(10 * time.Second)
		synctest.Wait()

		// a cannot reach the database: its term ends once its lease would have expired,
		// and b takes over only after that.
		st.setFail("a", true)
		time.Sleep(ttl + 2*time.Second)
		synctest.Wait()
		rec.mu.Lock()
		aRunning, bRunning := rec.running["a"], rec.running["b"]
		rec.mu.Unlock()
		if aRunning || !bRunning {
			t.Errorf("after a lost the database: a running %v, b running %v; want b only", aRunning, bRunning)
		}

		// a comes back and stops; b goes on under its token.
		st.setFail("a", false)
		stopA()
		time.Sleep(10 * time.Second)
		synctest.Wait()
		stopB()
		synctest.Wait()

		want := []string{"a 1", "b 2"}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if rec.overlap {
			t.Error("two holders ran the component at once")
		}
		if len(rec.log) != len(want) || rec.log[0] != want[0] || rec.log[1] != want[1] {
			t.Errorf("terms %v; want %v", rec.log, want)
		}
		if st.lease.ExpiresAt != (time.Time{}) {
			t.Errorf("b released nothing when it stopped: %+v", st.lease)
		}
	})
}

// TestLeaderHandsOverOnStop checks that a stopping leader releases the lease, so the next
// takes over at its next renewal rather than after the TTL.
func TestLeaderHandsOverOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &memStore{fail: map[string]bool{}}
		rec := &terms{running: map[string]bool{}}
		ttl := 30 * time.Second
		ctxA, stopA := context.WithCancel(t.Context())
		go (&Leader{Store: st, Component: rec.component("a"), Name: "s", Holder: "a", TTL: ttl, Logger: slog.New(slog.DiscardHandler)}).Run(ctxA)
		synctest.Wait()
		go (&Leader{Store: st, Component: rec.component("b"), Name: "s", Holder: "b", TTL: ttl, Logger: slog.New(slog.DiscardHandler)}).Run(t.Context())
		synctest.Wait()
		stopA()
		start := time.Now()
		for {
			time.Sleep(time.Second)
			synctest.Wait()
			rec.mu.Lock()
			b := rec.running["b"]
			rec.mu.Unlock()
			if b {
				break
			}
		}
		if d := time.Since(start); d > ttl/3+time.Second {
			t.Errorf("b took over %v after a stopped; want within one renewal (%v)", d, ttl/3)
		}
	})
}
