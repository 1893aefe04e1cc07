package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEachFiles: --each-file walks the folders below its folder by name, one task a file
// placed under the folder's name, leaving out hidden files and what .gitignore names; past each
// limit (files, depth, entries looked at) and for a symlink out of the folder it fails
// with a message naming the limit.
func TestEachFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	shards := filepath.Join(dir, "shards")
	for _, f := range []string{"b.csv", "a/x.csv", "a/y/z.csv", "c/d/e/f.csv", ".git/HEAD", "tmp/skip.csv", "notes.log"} {
		p := filepath.Join(shards, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(shards, ".gitignore"), []byte("tmp/\n*.log\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lim := eachFileLimits{files: 10, depth: 3, entries: 100}
	files, err := eachFiles(shards, lim)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.file.Path)
	}
	want := []string{"shards/a/x.csv", "shards/a/y/z.csv", "shards/b.csv", "shards/c/d/e/f.csv"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks' files (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		lim  eachFileLimits
		want string
	}{
		{"too many files", eachFileLimits{files: 3, depth: 3, entries: 100}, "more than 3 files; an array has at most 3 tasks"},
		{"too deep", eachFileLimits{files: 10, depth: 2, entries: 100}, "c/d/e is 3 folders down; files are taken at most 2 folders below it"},
		{"too many entries", eachFileLimits{files: 10, depth: 3, entries: 5}, "more than 5 files and folders to look through"},
	} {
		if _, err := eachFiles(shards, tc.lim); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error saying %q", tc.name, err, tc.want)
		}
	}

	outside := filepath.Join(dir, "outside.csv")
	if err := os.WriteFile(outside, []byte("no"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(shards, "a", "link.csv")); err != nil {
		t.Fatal(err)
	}
	if _, err := eachFiles(shards, lim); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("a symlink out of the folder: %v; want it refused", err)
	}
	empty := filepath.Join(dir, "empty", "deeper")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := eachFiles(filepath.Dir(empty), lim); err == nil || !strings.Contains(err.Error(), "no files") {
		t.Errorf("a folder of empty folders: %v; want no files", err)
	}
	if _, err := eachFiles(outside, lim); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Errorf("a file: %v; want not a folder", err)
	}
}

// TestWalkDirFile: --dir given a file says so, where it sent nothing.
func TestWalkDirFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "model.pkl")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := walkDir(file); err == nil || err.Error() != "--dir "+file+" is not a folder; send a file with --file" {
		t.Errorf("walkDir of a file: %v", err)
	}
}

// TestReadLinesBlank: a line of spaces is no task, as an empty one is not.
func TestReadLinesBlank(t *testing.T) {
	t.Parallel()
	lines, err := readLines("-", strings.NewReader("a\n   \n\t\nb\r\n\n"))
	if err != nil || !slices.Equal(lines, []string{"a", "b"}) {
		t.Errorf("readLines = %q, %v; want [a b]", lines, err)
	}
}
