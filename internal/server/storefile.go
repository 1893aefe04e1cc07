package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// checkWritable says in words why the SQLite database at path cannot be written, before
// SQLite says "unable to open database file (14)": SQLite writes the file and, beside it,
// its journal, so both the file and its directory must be writable.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	probe, err := os.CreateTemp(dir, ".docket-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s, where the database %s is kept: %w; give a directory this user may write (--data-dir)", dir, path, unwrapPath(err))
	}
	probe.Close()
	os.Remove(probe.Name())
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("cannot write the database %s: %w", path, unwrapPath(err))
	}
	return f.Close()
}

// unwrapPath is the error of a file operation without the path, which the message
// names already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
