package job

import (
	"fmt"
	"time"
)

// DefaultQueue is the queue of a run whose definition names none: it has no limits of its
// own beyond each server's --parallelism, and priority 0.
const DefaultQueue = ""

// MaxPriority bounds both a queue's priority and a run's own priority.
const MaxPriority = 1000

// Queue is a named admission rule: how many of its runs may be active at once, how fast
// they may start, and how urgent they are beside other queues' runs. Its limits are
// counted in the claim's transaction, so every server sharing a store honours them
// together.
type Queue struct {
	Name string `json:"name"`
	// MaxRunning caps the queue's runs that are dispatched, pending or running; 0: no cap.
	MaxRunning int `json:"max_running"`
	// MaxStartsPerSecond caps how fast its runs are claimed (bursts of at most
	// max(1, the rate)); 0: no cap.
	MaxStartsPerSecond float64 `json:"max_starts_per_second"`
	// Priority orders queues' runs for the claim, highest first (0 to MaxPriority).
	Priority int `json:"priority"`
	// Disabled holds the queue's queued runs: none is claimed until it is enabled again.
	// Its active runs go on, and new runs may still be submitted to it and wait.
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// State is how a person reads whether the queue's runs are claimed: enabled or disabled.
func (q Queue) State() string {
	if q.Disabled {
		return "disabled"
	}
	return "enabled"
}

// QueueLimits are the bounds on a queue's numbers.
const (
	MaxQueueRunning = 1_000_000
	MaxQueueRate    = 10_000
)

// Validate checks a queue's numbers, naming the field that is wrong.
func (q Queue) Validate() error {
	switch {
	case q.MaxRunning < 0 || q.MaxRunning > MaxQueueRunning:
		return Invalid("max_running", "%d is not a number from 0 (no cap) to %d", q.MaxRunning, MaxQueueRunning)
	case q.MaxStartsPerSecond < 0 || q.MaxStartsPerSecond > MaxQueueRate || q.MaxStartsPerSecond != q.MaxStartsPerSecond:
		return Invalid("max_starts_per_second", "%v is not a number from 0 (no cap) to %d", q.MaxStartsPerSecond, MaxQueueRate)
	case q.Priority < 0 || q.Priority > MaxPriority:
		return Invalid("priority", "%d is not a number from 0 to %d", q.Priority, MaxPriority)
	}
	return nil
}

// Burst is how many starts the queue's rate lets through at once: the rate, at least one.
func (q Queue) Burst() float64 { return max(1, q.MaxStartsPerSecond) }

// ClaimOrder is where a run of a queue with priority queuePriority and its own priority
// stands in the claim: lower first (the queue's priority, then the run's; then age,
// which the run's id orders).
func ClaimOrder(queuePriority, priority int) int {
	return (MaxPriority-queuePriority)*(MaxPriority+1) + (MaxPriority - priority)
}

// QueueStats is what a queue holds now: its runs that are active (dispatched, pending or
// running) and those queued.
type QueueStats struct {
	Running int `json:"running"`
	Queued  int `json:"queued"`
}

// RateText says a queue's start rate as a person reads it.
func RateText(perSecond float64) string {
	if perSecond == float64(int(perSecond)) {
		n := int(perSecond)
		if n == 1 {
			return "1 start a second"
		}
		return fmt.Sprintf("%d starts a second", n)
	}
	return fmt.Sprintf("%g starts a second", perSecond)
}
