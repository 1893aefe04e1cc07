package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"docket.dev/docket/internal/job"
	"docket.dev/docket/internal/store"
)

// DefinitionPage returns a page of the live jobs by name. The cursor is the page's last
// name. Names compare bytewise on both databases ("a-b" before "ab"): SQLite's default,
// and the collation of PostgreSQL's name column.
func (s *Store) DefinitionPage(ctx context.Context, f store.DefinitionFilter) ([]job.Definition, string, error) {
	q, args := `SELECT `+defColumns+defFrom+` WHERE d.deleted_at IS NULL AND d.name > ?`, []any{f.Cursor}
	if f.Name != "" {
		// Names are lowercase; the part is matched as written, % and _ included.
		part := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(f.Name))
		q, args = q+` AND d.name LIKE ? ESCAPE '\'`, append(args, "%"+part+"%")
	}
	q += ` ORDER BY d.name`
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit+1)
	}
	defs, err := all(ctx, s.conn(), scanDefinition, q, args...)
	if err != nil {
		return nil, "", s.translate(err)
	}
	next := ""
	if f.Limit > 0 && len(defs) > f.Limit {
		defs = defs[:f.Limit]
		next = defs[f.Limit-1].Name
	}
	return defs, next, nil
}

// RunRecent returns the newest n runs of each job: per job, one walk of the runs (job, id)
// index. n is written into the statement, not bound: PostgreSQL planned a bound LIMIT at
// each execution. Where the database takes the jobs as one list (EachJob), a page of jobs
// is one statement with one subquery to plan; else a hundred jobs go to a statement of a
// part each. PostgreSQL plans a statement's first executions on each connection afresh,
// and a hundred parts took it 250 ms each time (a page of 1,000 jobs 1.8 s at a new
// connection's first use).
func (s *Store) RunRecent(ctx context.Context, jobs []string, n int) (map[string][]job.Run, error) {
	out := map[string][]job.Run{}
	if n <= 0 {
		return out, nil
	}
	limit := strconv.Itoa(n)
	each := s.d.EachJob()
	size := 100
	if each != "" {
		size = store.MaxLimit
	}
	for chunk := range slices.Chunk(jobs, size) {
		var (
			q    string
			args []any
		)
		if each != "" {
			q, args = `SELECT r.* FROM `+each+` CROSS JOIN LATERAL (SELECT `+runColumns+` FROM runs
				WHERE job = j.name AND parent_id IS NULL ORDER BY id DESC LIMIT `+limit+`) AS r`, []any{chunk}
		} else {
			parts := make([]string, len(chunk))
			for i, name := range chunk {
				parts[i] = `SELECT * FROM (SELECT ` + runColumns + ` FROM runs WHERE job = ? AND parent_id IS NULL ORDER BY id DESC LIMIT ` + limit + `) AS j` + strconv.Itoa(i)
				args = append(args, name)
			}
			q = strings.Join(parts, " UNION ALL ")
		}
		runs, err := all(ctx, s.conn(), scanRun, q, args...)
		if err != nil {
			return nil, s.translate(err)
		}
		for _, r := range runs {
			out[r.Job] = append(out[r.Job], r)
		}
	}
	return out, nil
}
