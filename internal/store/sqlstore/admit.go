package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"docket.dev/docket/internal/job"
)

// claimable is a queued run with its place in the claim's order.
type claimable struct {
	job.Run
	order int
}

func scanClaimable(row scanner) (claimable, error) {
	var c claimable
	var order int
	r, err := scanRun(extraScanner{row, []any{&order}})
	c.Run, c.order = r, order
	return c, err
}

// extraScanner scans the columns past runColumns into more.
type extraScanner struct {
	row  scanner
	more []any
}

func (e extraScanner) Scan(dest ...any) error { return e.row.Scan(append(dest, e.more...)...) }

// queueRoom is what one claim counted of a named queue: its limits, its active runs and
// the starts its rate allows, each claimed run taken off.
type queueRoom struct {
	name string
	// limited is false for a queue that is not defined (deleted while its runs wait):
	// it limits nothing.
	limited bool
	q       job.Queue
	running int
	tokens  float64
	taken   int
}

// full reports whether the queue has no room for one more run.
func (q *queueRoom) full() bool {
	if !q.limited {
		return false
	}
	return q.q.MaxRunning > 0 && q.running >= q.q.MaxRunning ||
		q.q.MaxStartsPerSecond > 0 && q.tokens < 1
}

// take counts a claimed run.
func (q *queueRoom) take() {
	if q == nil {
		return
	}
	q.running++
	q.tokens--
	q.taken++
}

// room returns the room of the named queue, locking and counting it on first use, or
// nil when the queue is full or another claimer holds it (it is then passed over for the
// rest of the claim).
func (a *admission) room(ctx context.Context, name string) (*queueRoom, error) {
	if name == job.DefaultQueue {
		return &queueRoom{}, nil
	}
	room, ok := a.queues[name]
	if !ok {
		// The first queue's lock is waited for, so claimers take its runs in turn, in
		// priority order; the others' only taken when free (a claimer that waits holds
		// no queue lock, so no two wait on each other).
		got, err := a.s.d.LockQueue(ctx, a.c.q, name, len(a.queues) == 0)
		if err != nil {
			return nil, err
		}
		if !got {
			a.fullQueues = append(a.fullQueues, name)
			return nil, nil
		}
		room = &queueRoom{name: name, limited: true}
		var at *time.Time
		err = a.c.row(ctx, `SELECT max_running, max_starts_per_second, tokens, tokens_at FROM queues WHERE name = ?`, name).
			Scan(&room.q.MaxRunning, &room.q.MaxStartsPerSecond, &room.tokens, nullTimeCol{&at})
		switch {
		case errors.Is(err, sql.ErrNoRows):
			room.limited = false
		case err != nil:
			return nil, err
		default:
			room.tokens = refill(room.q, room.tokens, at, a.now)
			if room.q.MaxRunning > 0 {
				if err := a.c.row(ctx, `SELECT COUNT(*) FROM runs WHERE queue = ? AND state IN `+activeStates, name).Scan(&room.running); err != nil {
					return nil, err
				}
			}
		}
		a.queues[name] = room
	}
	if room.full() {
		a.fullQueues = append(a.fullQueues, name)
		return nil, nil
	}
	return room, nil
}

// spend writes back the token buckets of the rate-limited queues the claim took from.
func (a *admission) spend(ctx context.Context) error {
	for _, room := range a.queues {
		if !room.limited || room.q.MaxStartsPerSecond == 0 || room.taken == 0 {
			continue
		}
		if _, err := a.c.exec(ctx, `UPDATE queues SET tokens = ?, tokens_at = ? WHERE name = ?`,
			room.tokens, a.s.ts(a.now), room.name); err != nil {
			return err
		}
	}
	return nil
}
