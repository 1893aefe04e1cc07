package process

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Making and removing a file or a directory costs the file system (ext4: an inode, a
// block, their journal) about ten times what renaming one does. A run's working directory
// and its keeper's record are both made for the run and removed after it, so the executor
// keeps them instead: a run's working directory that the run left empty waits, renamed
// to a spare, to be renamed into the next run's; a keeper's record waits, renamed to the
// keeper's own name, while the keeper waits for its next run. Neither is shared by two
// runs at once, and a working directory is only reused empty, its mode reset.

// Spares and waiting keepers' records are named .spare-TAG-N and .idle-TAG-PID, TAG this
// executor's: a later server on the same work directory removes those of earlier ones.
const (
	sparePrefix = ".spare-"
	idlePrefix  = ".idle-"
)

// spares are the empty working directories the executor keeps, and its tag.
type spares struct {
	tag  string
	max  int
	mu   sync.Mutex
	dirs []string
	n    int
}

func newSpares(max int) *spares {
	return &spares{tag: fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()), max: max}
}

// stale reports whether name, a spare or a waiting keeper's record, is left by a server
// that is gone: the pid in its tag runs no more.
func stale(name string) bool {
	name = strings.TrimPrefix(strings.TrimPrefix(name, sparePrefix), idlePrefix)
	pid, err := strconv.Atoi(name[:max(strings.IndexByte(name, '-'), 0)])
	return err != nil || pid <= 0 || errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// drop removes the spares.
func (s *spares) drop() {
	s.mu.Lock()
	dirs := s.dirs
	s.dirs = nil
	s.mu.Unlock()
	for _, dir := range dirs {
		os.RemoveAll(dir)
	}
}

// makeWorkDir makes a run's working directory: a spare renamed, or a new one.
func (e *Executor) makeWorkDir(dir string) error {
	s := e.spares
	s.mu.Lock()
	var spare string
	if n := len(s.dirs); n > 0 {
		spare, s.dirs = s.dirs[n-1], s.dirs[:n-1]
	}
	s.mu.Unlock()
	if spare != "" && rename(spare, dir) == nil {
		return nil
	}
	return os.MkdirAll(dir, 0o700)
}

// dropWorkDir removes a finished run's working directory, or keeps it as a spare when
// the run left it empty and there is room.
func (e *Executor) dropWorkDir(dir string) {
	if e.spareable(dir) {
		s := e.spares
		s.mu.Lock()
		room := len(s.dirs) < s.max
		s.n++
		spare := filepath.Join(e.opts.WorkDir, fmt.Sprintf("%s%s-%d", sparePrefix, s.tag, s.n))
		s.mu.Unlock()
		if room && rename(dir, spare) == nil {
			s.mu.Lock()
			s.dirs = append(s.dirs, spare)
			s.mu.Unlock()
			return
		}
	}
	os.RemoveAll(dir)
}

// spareable reports whether dir is still a directory of its own (not a link the run put
// in its place) that holds nothing, with its mode reset to what a new one has.
func (e *Executor) spareable(dir string) bool {
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	_, err = f.Readdirnames(1)
	f.Close()
	if !errors.Is(err, io.EOF) {
		return false // not empty, or unreadable
	}
	if fi.Mode()&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky) != 0o700 {
		return os.Chmod(dir, 0o700) == nil
	}
	return true
}

// idleRecord is where k's record waits while k waits for a run.
func (e *Executor) idleRecord(k *keeper) string {
	return filepath.Join(e.opts.WorkDir, fmt.Sprintf("%s%s-%d", idlePrefix, e.spares.tag, k.pid()))
}

// rename is os.Rename without the lstat it makes of the new name first (to refuse to
// put a directory over another): every rename here is to a name of the executor's own,
// a spare's, a run's or a record's, so it saves a system call per run and directory.
func rename(from, to string) error {
	if err := syscall.Rename(from, to); err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
