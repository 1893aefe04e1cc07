package process

import (
	"log/slog"
	"testing"
	"time"
)

// TestPool checks which keepers wait for a run: at most max, none that waited past
// keeperIdle, none once the pool is closed.
func TestPool(t *testing.T) {
	t.Parallel()
	now := time.Now()
	p := &pool{program: "/proc/self/exe", log: slog.New(slog.DiscardHandler), grace: time.Second, max: 2, now: func() time.Time { return now }}
	var ks []*keeper
	for range 3 {
		k, err := p.get()
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, k)
	}
	gone := func(k *keeper) bool {
		select {
		case <-k.exited:
			return true
		default:
			return false
		}
	}
	for _, k := range ks {
		p.put(k, true)
	}
	if gone(ks[0]) || gone(ks[1]) || !gone(ks[2]) {
		t.Errorf("after three keepers came back to a pool of two: ended %v %v %v; want only the third", gone(ks[0]), gone(ks[1]), gone(ks[2]))
	}
	if k, err := p.get(); err != nil || k != ks[1] {
		t.Errorf("get = %p, %v; want the keeper that came back last, %p", k, err, ks[1])
	}
	p.put(ks[1], false)
	if !gone(ks[1]) {
		t.Error("a keeper not to be trusted with another run waits for one")
	}

	now = now.Add(keeperIdle)
	p.prune()
	if !gone(ks[0]) {
		t.Errorf("a keeper idle for %v was not ended", keeperIdle)
	}
	k, err := p.get()
	if err != nil || k == ks[0] {
		t.Fatalf("get after prune = %p, %v; want a new keeper", k, err)
	}
	p.close()
	p.put(k, true)
	if !gone(k) {
		t.Error("a keeper put back after close waits for a run")
	}
}
