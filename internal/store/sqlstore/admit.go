package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
)

// claimable is a queued run with its place in the claim's order and whether the claim
// got its queue's lock.
type claimable struct {
	job.Run
	order  int
	locked bool
}

func scanClaimable(row scanner) (claimable, error) {
	var c claimable
	var noInputs bool
	r, err := scanRun(extraScanner{row, []any{&c.order, &c.locked, &noInputs}})
	r.NoInputs = noInputs
	c.Run = r
	return c, err
}

// extraScanner scans the columns past runColumns into more.
type extraScanner struct {
	row  scanner
	more []any
}

func (e extraScanner) Scan(dest ...any) error { return e.row.Scan(append(dest, e.more...)...) }

// queueRoom is what one claim counted of a named queue it holds the lock of: its
// limits, its active runs and the starts its rate allows, each claimed run taken off.
type queueRoom struct {
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
	return q.limited && (q.q.MaxRunning > 0 && q.running >= q.q.MaxRunning ||
		q.q.MaxStartsPerSecond > 0 && q.tokens < 1)
}

// take counts a claimed run.
func (q *queueRoom) take() {
	q.running++
	q.tokens--
	q.taken++
}

// lockQueues settles, for the named queues of a page the claim has not met yet, whether
// it holds their locks, and reads what those hold, in one statement. A queue whose lock
// the page's statement did not get is waited for when the claim holds no queue lock yet,
// and passed over otherwise.
func (a *admission) lockQueues(ctx context.Context, page []claimable) error {
	var held []string
	for _, cr := range page {
		name := cr.Queue
		if name == job.DefaultQueue || a.queues[name] != nil || slices.Contains(a.fullQueues, name) || slices.Contains(held, name) {
			continue
		}
		if !cr.locked {
			if len(a.queues) > 0 || len(held) > 0 {
				a.fullQueues = append(a.fullQueues, name)
				continue
			}
			if err := a.s.d.LockQueue(ctx, a.c.q, name); err != nil {
				return err
			}
		}
		held = append(held, name)
	}
	if len(held) == 0 {
		return nil
	}
	for _, name := range held {
		a.queues[name] = &queueRoom{}
	}
	// One walk of the runs' (queue, state) index counts every queue's active runs.
	list, args := in(held)
	rows, err := a.c.rows(ctx, `SELECT q.name, q.max_running, q.max_starts_per_second, q.tokens, q.tokens_at, COALESCE(c.n, 0)
		FROM queues q LEFT JOIN (SELECT queue, COUNT(*) AS n FROM runs
			WHERE queue IN `+list+` AND queue <> '' AND state IN `+activeStates+` GROUP BY queue) c ON c.queue = q.name
		WHERE q.name IN `+list, append(args, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			room queueRoom
			at   *time.Time
		)
		if err := rows.Scan(&room.q.Name, &room.q.MaxRunning, &room.q.MaxStartsPerSecond, &room.tokens, nullTimeCol{&at}, &room.running); err != nil {
			return err
		}
		room.limited, room.tokens = true, refill(room.q, room.tokens, at, a.now)
		a.queues[room.q.Name] = &room
	}
	return rows.Err()
}

// room returns the room of the named queue, or nil when the claim passes it over (full,
// or another claimer holds it) for the rest of the claim.
func (a *admission) room(name string) *queueRoom {
	if name == job.DefaultQueue {
		return &queueRoom{}
	}
	room := a.queues[name]
	if room == nil {
		return nil
	}
	if room.full() {
		if !slices.Contains(a.fullQueues, name) {
			a.fullQueues = append(a.fullQueues, name)
		}
		return nil
	}
	return room
}

// spend writes back, in one statement, the token buckets of the rate-limited queues the
// claim took from.
func (a *admission) spend(ctx context.Context) error {
	var (
		cases strings.Builder
		args  []any
		names []any
	)
	for name, room := range a.queues {
		if !room.limited || room.q.MaxStartsPerSecond == 0 || room.taken == 0 {
			continue
		}
		cases.WriteString(" WHEN ? THEN CAST(? AS DOUBLE PRECISION)")
		args, names = append(args, name, room.tokens), append(names, name)
	}
	if len(names) == 0 {
		return nil
	}
	list := rowParams(len(names))
	_, err := a.c.exec(ctx, fmt.Sprintf(`UPDATE queues SET tokens = CASE name%s END, tokens_at = ? WHERE name IN %s`, cases.String(), list),
		append(append(args, a.s.ts(a.now)), names...)...)
	return err
}
