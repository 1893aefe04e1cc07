package job

// State is where a run is in its life. Terminal states are final.
type State string

// The run states, in the order a run normally passes through them.
const (
	// StateWaiting runs wait for the runs they need (a workflow's earlier steps) to end;
	// they are then queued, or skipped when what they need failed.
	StateWaiting State = "waiting"
	// StateQueued runs wait in the queue (the runs table) for a dispatcher to claim them.
	StateQueued State = "queued"
	// StateDispatched runs were claimed by a dispatcher and handed to an executor.
	StateDispatched State = "dispatched"
	// StatePending runs were accepted by the executor but have not started, for example a pod
	// waiting for a node or an image.
	StatePending State = "pending"
	// StateRunning runs have a live process, container or pod.
	StateRunning State = "running"
	// StateSucceeded runs exited with code 0.
	StateSucceeded State = "succeeded"
	// StateFailed runs ended without success; the run's reason and message say why.
	StateFailed State = "failed"
	// StateCancelled runs were stopped on request.
	StateCancelled State = "cancelled"
	// StateSkipped is a run that was not run, with the reason (a slot while the job was
	// suspended, concurrency, the catch-up policy; a step whose upstream failed). A
	// skipped run never started.
	StateSkipped State = "skipped"
)

// States lists every state, for validating user input such as a list filter.
var States = []State{
	StateWaiting, StateQueued, StateDispatched, StatePending, StateRunning,
	StateSucceeded, StateFailed, StateCancelled, StateSkipped,
}

// UnfinishedStates are the states of a run that has not ended: waiting, queued or active.
var UnfinishedStates = []State{StateWaiting, StateQueued, StateDispatched, StatePending, StateRunning}

// ActiveStates are the states of a run that holds, or is about to hold, compute.
var ActiveStates = []State{StateDispatched, StatePending, StateRunning}

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateCancelled, StateSkipped:
		return true
	}
	return false
}

// Active reports whether a run in state s holds, or is about to hold, compute.
func (s State) Active() bool {
	return s == StateDispatched || s == StatePending || s == StateRunning
}

// Valid reports whether s is one of the known states.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// transitions lists, for each non-terminal state, the states a run may move to next.
var transitions = map[State][]State{
	StateWaiting:    {StateQueued, StateSkipped, StateCancelled},
	StateQueued:     {StateDispatched, StateCancelled, StateFailed},
	StateDispatched: {StateQueued, StatePending, StateRunning, StateSucceeded, StateFailed, StateCancelled},
	StatePending:    {StateRunning, StateSucceeded, StateFailed, StateCancelled},
	StateRunning:    {StateSucceeded, StateFailed, StateCancelled},
}

// CanTransition reports whether a run may move from one state to another. A dispatched run
// may go back to queued only when it is recovered after a crash before it started.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Preceding returns the states a run may move to `to` from, in a fixed order.
func Preceding(to State) []State {
	var from []State
	for _, s := range States {
		if CanTransition(s, to) {
			from = append(from, s)
		}
	}
	return from
}

// groupTransitions lists the moves of a group run (a workflow or an array), whose state
// follows its children's: running once one of them has started, ended once all have.
var groupTransitions = map[State][]State{
	StateQueued:  {StateRunning, StateSucceeded, StateFailed, StateCancelled},
	StateRunning: {StateSucceeded, StateFailed, StateCancelled},
}

// CanGroupTransition reports whether a group run may move from one state to another.
func CanGroupTransition(from, to State) bool {
	for _, s := range groupTransitions[from] {
		if s == to {
			return true
		}
	}
	return false
}
