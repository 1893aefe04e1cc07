package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The data directory holds the run token key and the env values of every definition (in
// the SQLite database) and the runs' working directories: only the server's user may read
// it.
const (
	dataDirMode = 0o700
	dataMode    = 0o600
)

// holder is what the lock file says about the server holding it.
type holder struct {
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Addr  string    `json:"addr,omitempty"`
	Since time.Time `json:"since"`
}

// dataDirLock is a server's hold on its SQLite database: one server per file, or the
// second would take the first's live runs for a crashed server's and run them again.
type dataDirLock struct {
	f  *os.File
	me holder
}

// claimDataDir makes the data directory readable by the server's user only (creating it
// when the store or the executor uses it) and, on SQLite, locks the database for this
// server: a lock file beside it, held with flock until the server exits (the kernel
// releases it even on kill -9). It returns nil on PostgreSQL, which several servers share.
func claimDataDir(cfg Config) (*dataDirLock, error) {
	path, ok := sqlitePath(cfg)
	_, statErr := os.Stat(cfg.DataDir)
	if ok || cfg.Executor == "process" || statErr == nil {
		if err := mkdirPrivate(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, nil
	}
	// A database kept outside the data directory is in a directory of the user's, which
	// is made only when missing.
	if dir := filepath.Dir(path); dir != filepath.Clean(cfg.DataDir) {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			if err := mkdirPrivate(dir); err != nil {
				return nil, err
			}
		}
	}
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, dataMode)
	if err != nil {
		return nil, fmt.Errorf("open the data dir's lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, inUse(path, f)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	l := &dataDirLock{f: f, me: holder{PID: os.Getpid(), Host: host, Since: time.Now().UTC()}}
	if err := errors.Join(l.write(), private(path)); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// mkdirPrivate makes dir, or an existing one, readable by the server's user only; the
// directories above it are made as usual.
func mkdirPrivate(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Mkdir(dir, dataDirMode); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create data dir: %w", err)
	}
	if err := os.Chmod(dir, dataDirMode); err != nil {
		return fmt.Errorf("make the data dir private: %w", err)
	}
	return nil
}

// inUse explains that another server holds the database, naming it as its lock file does.
func inUse(path string, f *os.File) error {
	var h holder
	data, _ := os.ReadFile(f.Name())
	if json.Unmarshal(data, &h) != nil || h.PID == 0 {
		return fmt.Errorf("%s is in use by another docket server (it has not said which yet); stop it, or give this server another --data-dir", path)
	}
	where := "not listening yet"
	if h.Addr != "" {
		where = "listening on " + h.Addr
	}
	return fmt.Errorf("%s is in use by the docket server with pid %d on %s, %s, since %s; stop it, or give this server another --data-dir",
		path, h.PID, h.Host, where, h.Since.Format(time.RFC3339))
}

// private makes an existing database and its journal readable by the server's user only,
// and creates the database that way when it is new: SQLite gives its journal files the
// database's mode.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, dataMode)
	if err != nil {
		return fmt.Errorf("create the database: %w", err)
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, dataMode); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("make the database private: %w", err)
		}
	}
	return nil
}

// Listening records the address the server listens on, for the message a second server
// gets.
func (l *dataDirLock) Listening(addr string) error {
	if l == nil {
		return nil
	}
	l.me.Addr = addr
	return l.write()
}

func (l *dataDirLock) write() error {
	data, _ := json.Marshal(l.me)
	if err := l.f.Truncate(0); err != nil {
		return fmt.Errorf("write the data dir's lock: %w", err)
	}
	if _, err := l.f.WriteAt(append(data, '\n'), 0); err != nil {
		return fmt.Errorf("write the data dir's lock: %w", err)
	}
	return nil
}

// Close releases the lock.
func (l *dataDirLock) Close() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// sqlitePath is the SQLite database the configuration names, if it names one.
func sqlitePath(cfg Config) (string, bool) {
	url := cfg.DatabaseURL
	if url == "" {
		return filepath.Join(cfg.DataDir, "docket.db"), true
	}
	path, ok := strings.CutPrefix(url, "sqlite://")
	return path, ok && path != ""
}
