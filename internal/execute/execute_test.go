package execute

import (
	"errors"
	"testing"
	"time"

	"docket.dev/docket/internal/job"
)

func TestSet(t *testing.T) {
	t.Parallel()
	var s Set
	h, err := s.Add("r1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add("r1"); err == nil {
		t.Error("a run held twice must be refused")
	}
	if err := s.Stop("absent", Interrupted); !errors.Is(err, job.ErrNotFound) {
		t.Errorf("Stop of a run not held = %v; want ErrNotFound", err)
	}
	// The first stop asked for wins; later ones are dropped without blocking.
	if err := s.Cancel("r1", "ana"); err != nil {
		t.Fatal(err)
	}
	s.Stop("r1", Deadline(time.Minute))
	if got := <-h.Stopped(); got.State != job.StateCancelled || got.Message != "cancelled by ana" {
		t.Errorf("stop = %+v; want the cancel", got)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d; want 1", s.Len())
	}

	h2, _ := s.Add("r2")
	shut := make(chan struct{})
	go func() {
		s.Shutdown(Interrupted)
		close(shut)
	}()
	if got := <-h2.Stopped(); got != Interrupted {
		t.Errorf("shutdown stop = %+v", got)
	}
	select {
	case <-shut:
		t.Fatal("Shutdown returned while runs were held")
	case <-time.After(50 * time.Millisecond):
	}
	s.Release("r1")
	s.Release("r2")
	<-shut
	if _, err := s.Add("r3"); err == nil {
		t.Error("a set that shut down must refuse new runs")
	}
}
