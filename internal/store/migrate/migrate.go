// Package migrate applies a store backend's numbered SQL migrations, each once, in order,
// each in its own transaction with the record of having applied it.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the migrations in dir of fsys, named NNNN_description.sql.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Apply brings db up to the newest migration and returns the versions it applied: every
// migration not recorded yet, in order, so one numbered below the newest applied (a
// feature's migration that landed after a later one) is applied too. A database newer
// than the migrations (a downgrade) is an error: the older binary must not write to a
// schema it does not know.
func Apply(ctx context.Context, db *sql.DB, migrations []Migration) ([]int, error) {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL
	)`); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	done, current, err := recorded(ctx, db)
	if err != nil {
		return nil, err
	}
	if n := len(migrations); n > 0 && current > migrations[n-1].Version {
		return nil, fmt.Errorf("the database is at schema version %d, newer than this binary's %d; run a newer docket", current, migrations[n-1].Version)
	}
	var applied []int
	for _, m := range migrations {
		if done[m.Version] {
			continue
		}
		if err := applyOne(ctx, db, m); err != nil {
			return applied, err
		}
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// recorded returns the versions applied to db and the newest of them.
func recorded(ctx context.Context, db *sql.DB) (map[int]bool, int, error) {
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, 0, fmt.Errorf("read schema versions: %w", err)
	}
	defer rows.Close()
	done, newest := map[int]bool{}, 0
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, 0, fmt.Errorf("read schema versions: %w", err)
		}
		done[v], newest = true, max(newest, v)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("read schema versions: %w", err)
	}
	return done, newest, nil
}

func applyOne(ctx context.Context, db *sql.DB, m Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	// The version is an integer this package parsed, so formatting it in is safe, and it
	// keeps the runner free of each backend's placeholder syntax.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO schema_migrations (version, name) VALUES (%d, '%s')`,
		m.Version, strings.ReplaceAll(m.Name, "'", "''"))); err != nil {
		return fmt.Errorf("record migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	return nil
}
