package cli

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"docket.dev/docket/internal/job"
)

// eachFileLimits bound the walk of an --each-file folder: how many files make tasks, how
// many folders down a file may be, and how many entries (files and folders) are looked at
// in all, so a folder holding far more than an array never costs a walk of all of it.
type eachFileLimits struct {
	files, depth, entries int
}

// defaultEachFile: an array's most tasks, 8 folders down (shards/2026/11/23/... and
// then some), and ten entries a task.
var defaultEachFile = eachFileLimits{files: job.MaxTasks, depth: 8, entries: 10 * job.MaxTasks}

// eachFiles lists the files of an --each-file folder and of the folders below it, one task
// each, in the order of a walk by name; each is placed for its task under the folder's
// name and its path below it (shards/2026/11/a.csv), which is its DOCKET_TASK_INPUT.
// Hidden files and folders (.git, .gitignore, .DS_Store) and what the folder's .gitignore
// and .docketignore name are left out, and a symlink is the file it points to when that is inside the folder (one pointing out
// of it is refused). Past a limit it fails, saying which and how to go on.
func eachFiles(dir string, lim eachFileLimits) ([]localFile, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("--each-file: %w", err)
	}
	if root, err = filepath.Abs(root); err != nil {
		return nil, fmt.Errorf("--each-file: %w", err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--each-file %s: not a folder; give a folder whose files make one task each", dir)
	}
	base := filepath.Base(root)
	ignore := append(readIgnore(filepath.Join(root, ".gitignore")), readIgnore(filepath.Join(root, ".docketignore"))...)
	var out []localFile
	seen := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("--each-file: %w", err)
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if seen++; seen > lim.entries {
			return fmt.Errorf("--each-file %s: more than %d files and folders to look through; give a folder that holds only the array's files", dir, lim.entries)
		}
		if strings.HasPrefix(d.Name(), ".") || ignored(ignore, rel, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if depth := strings.Count(rel, "/") + 1; depth > lim.depth {
				return fmt.Errorf("--each-file %s: %s is %d folders down; files are taken at most %d folders below it (give a deeper folder, or list the files with --each-line)", dir, rel, depth, lim.depth)
			}
			return nil
		}
		local := p
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return fmt.Errorf("--each-file: %s: %w", p, err)
			}
			if r, err := filepath.Rel(root, target); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				return fmt.Errorf("--each-file: %s points to %s, outside %s; copy the file in", p, target, dir)
			}
			if fi, err := os.Stat(target); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			local = target
		} else if !d.Type().IsRegular() {
			return nil
		}
		if len(out) == lim.files {
			return fmt.Errorf("--each-file %s: more than %d files; an array has at most %d tasks (split the folder, or run one array per part)", dir, lim.files, lim.files)
		}
		name := base + "/" + rel
		if len(name) > job.MaxInputBytes {
			return fmt.Errorf("--each-file: %s: its path is %d bytes; a task's input may be at most %d", p, len(name), job.MaxInputBytes)
		}
		lf, err := describeFile(local, name)
		if err != nil {
			return err
		}
		out = append(out, lf)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--each-file %s: no files; an array needs at least one task", dir)
	}
	return out, nil
}
