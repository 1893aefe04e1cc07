package sqlstore

import (
	"context"
	"slices"
	"strings"

	"docket.dev/docket/internal/job"
)

const eventColumns = `run_id, time, state, reason, message`

// insertEvents inserts events in as few statements as the parameter limits allow; in a
// transaction, it keeps them to insert when the transaction's work is done (conn.events).
func (s *Store) insertEvents(ctx context.Context, c conn, events []job.Event) error {
	if c.events != nil {
		*c.events = append(*c.events, events...)
		return nil
	}
	const perStatement = 5000 // 5 parameters each
	for chunk := range slices.Chunk(events, perStatement) {
		var q strings.Builder
		q.WriteString(`INSERT INTO events (` + eventColumns + `) VALUES `)
		args := make([]any, 0, len(chunk)*5)
		for i, ev := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(rowParams(5))
			args = append(args, ev.RunID, s.ts(ev.Time), ev.State, ev.Reason, ev.Message)
		}
		if _, err := c.exec(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// EventAppend records an event that leaves the run's state as it is; the event's state is
// the run's.
func (s *Store) EventAppend(ctx context.Context, ev job.Event) error {
	n, err := s.conn().execN(ctx, `INSERT INTO events (`+eventColumns+`)
		SELECT id, ?, state, ?, ? FROM runs WHERE id = ?`, s.ts(ev.Time), ev.Reason, ev.Message, ev.RunID)
	if err != nil {
		return s.translate(err)
	}
	if n == 0 {
		return job.ErrNotFound
	}
	return nil
}

// EventList returns a run's events, oldest first.
func (s *Store) EventList(ctx context.Context, runID string) ([]job.Event, error) {
	events, err := all(ctx, s.conn(), scanEvent, `SELECT id, `+eventColumns+` FROM events WHERE run_id = ? ORDER BY id`, runID)
	if err != nil {
		return nil, s.translate(err)
	}
	if events == nil {
		events = []job.Event{}
	}
	return events, nil
}

func scanEvent(row scanner) (job.Event, error) {
	var ev job.Event
	return ev, row.Scan(&ev.ID, &ev.RunID, timeCol{&ev.Time}, &ev.State, &ev.Reason, &ev.Message)
}
