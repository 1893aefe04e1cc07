package job

import "testing"

func TestTransitions(t *testing.T) {
	t.Parallel()
	for _, s := range States {
		if s.Terminal() {
			for _, to := range States {
				if CanTransition(s, to) {
					t.Errorf("terminal state %s may move to %s", s, to)
				}
			}
			continue
		}
		if !CanTransition(s, StateCancelled) {
			t.Errorf("%s cannot be cancelled", s)
		}
	}
	tests := []struct {
		from, to State
		want     bool
	}{
		{StateQueued, StateDispatched, true},
		{StateDispatched, StateQueued, true},
		{StateRunning, StateQueued, false},
		{StateQueued, StateRunning, false},
		{StateQueued, StateSkipped, false},
		{StatePending, StateRunning, true},
	}
	for _, tt := range tests {
		if got := CanTransition(tt.from, tt.to); got != tt.want {
			t.Errorf("CanTransition(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}
