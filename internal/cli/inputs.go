package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// inputFlags are the flags of docket run that send files with the run.
type inputFlags struct {
	files, dirs []string
	eachFile    string
}

func (in *inputFlags) add(f *pflag.FlagSet) {
	f.StringArrayVarP(&in.files, "file", "f", nil, "send a file; it is in the run's working directory ($DOCKET_INPUTS) under its name (repeatable); with --local, the definition file to run (\"-\" reads stdin)")
	f.StringArrayVar(&in.dirs, "dir", nil, "send a folder (honouring its .gitignore and .docketignore, never .git) under its name (repeatable)")
	f.StringVar(&in.eachFile, "each-file", "", "run one task per file of DIR and the folders below it (at most 8 down), its file placed for it; DOCKET_TASK_INPUT is its path")
}

// localFile is a file to send: where it is here, and what the run sees.
type localFile struct {
	local string
	file  job.File
}

// collect lists the files the flags name, refusing paths that would leave the run's
// working directory and symlinks out of a --dir.
func (in inputFlags) collect() (shared, tasks []localFile, err error) {
	for _, f := range in.files {
		lf, err := describeFile(f, filepath.Base(f))
		if err != nil {
			return nil, nil, err
		}
		shared = append(shared, lf)
	}
	for _, d := range in.dirs {
		files, err := walkDir(d)
		if err != nil {
			return nil, nil, err
		}
		shared = append(shared, files...)
	}
	if in.eachFile != "" {
		if tasks, err = eachFiles(in.eachFile, defaultEachFile); err != nil {
			return nil, nil, err
		}
	}
	return shared, tasks, nil
}

// describeFile hashes a file and names it name in the run.
func describeFile(local, name string) (localFile, error) {
	if err := checkRunPath(name); err != nil {
		return localFile{}, fmt.Errorf("%s: %w", local, err)
	}
	f, err := os.Open(local)
	if err != nil {
		return localFile{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return localFile{}, err
	}
	if !fi.Mode().IsRegular() {
		return localFile{}, fmt.Errorf("%s is not a regular file", local)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return localFile{}, fmt.Errorf("read %s: %w", local, err)
	}
	mode := uint32(0o644)
	if fi.Mode()&0o111 != 0 {
		mode = 0o755
	}
	return localFile{local: local, file: job.File{Path: name, SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Mode: mode}}, nil
}

// checkRunPath refuses a path that is absolute or climbs out of the working directory.
func checkRunPath(p string) error {
	switch {
	case p == "" || p == "." || p == "/":
		return errors.New("has no name to place it under")
	case path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../"):
		return fmt.Errorf("%q would leave the run's working directory", p)
	}
	return nil
}

// walkDir lists the files of a --dir, under the folder's name, leaving out .git and
// what its .gitignore and .docketignore name. A symlink is sent as the file it points to,
// when that is inside the folder; one pointing out of it is refused.
func walkDir(dir string) ([]localFile, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	}
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("--dir: %w", err)
	} else if !fi.IsDir() {
		return nil, usageError{fmt.Errorf("--dir %s is not a folder; send a file with --file", dir)}
	}
	root, _ = filepath.Abs(root)
	base := filepath.Base(root)
	ignore := append(readIgnore(filepath.Join(root, ".gitignore")), readIgnore(filepath.Join(root, ".docketignore"))...)
	var out []localFile
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.Name() == ".git" {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if ignored(ignore, rel, d.IsDir()) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		local := p
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(p)
			if err != nil {
				return fmt.Errorf("--dir: %s: %w", p, err)
			}
			if r, err := filepath.Rel(root, target); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
				return fmt.Errorf("--dir: %s points to %s, outside %s; copy the file in, or send it with --file", p, target, dir)
			}
			if fi, err := os.Stat(target); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			local = target
		} else if !d.Type().IsRegular() {
			return nil
		}
		lf, err := describeFile(local, base+"/"+rel)
		if err != nil {
			return err
		}
		out = append(out, lf)
		return nil
	})
	return out, err
}

// ignorePattern is one line of a .gitignore: the commonly used part of its syntax (a
// glob on a name, or on a path when it holds a slash; a trailing slash for folders).
type ignorePattern struct {
	glob              string
	anchored, dirOnly bool
}

func readIgnore(file string) []ignorePattern {
	f, err := os.Open(file)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []ignorePattern
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "!") {
			continue
		}
		p := ignorePattern{}
		if strings.HasSuffix(line, "/") {
			p.dirOnly, line = true, strings.TrimSuffix(line, "/")
		}
		if strings.Contains(line, "/") {
			p.anchored, line = true, strings.TrimPrefix(line, "/")
		}
		p.glob = line
		out = append(out, p)
	}
	return out
}

func ignored(patterns []ignorePattern, rel string, dir bool) bool {
	for _, p := range patterns {
		if p.dirOnly && !dir {
			continue
		}
		target := path.Base(rel)
		if p.anchored {
			target = rel
		}
		if ok, _ := path.Match(p.glob, target); ok {
			return true
		}
	}
	return false
}

// sendFiles uploads what the server does not have yet, saying first how much that is.
func sendFiles(ctx context.Context, e *env, c *client.Client, files []localFile) error {
	if len(files) == 0 {
		return nil
	}
	var total, known int64
	var missing []localFile
	seen := map[string]bool{}
	for _, f := range files {
		total += f.file.Size
		if seen[f.file.SHA256] {
			continue
		}
		seen[f.file.SHA256] = true
		_, complete, err := c.BlobReceived(ctx, f.file.SHA256)
		if err != nil {
			return err
		}
		if complete {
			known += f.file.Size
			continue
		}
		missing = append(missing, f)
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i].file.Path < missing[j].file.Path })
	fmt.Fprintf(e.stderr, "sending %s, %s (%s of it already on the server)\n", countOf(len(files), "file"), bytesText(total), bytesText(known))
	for _, f := range missing {
		if _, err := c.UploadFile(ctx, f.local, f.file); err != nil {
			return err
		}
	}
	return nil
}

// bytesText writes a size as people read it.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// filesOf are the files the run names.
func filesOf(lfs []localFile) []job.File {
	out := make([]job.File, len(lfs))
	for i, f := range lfs {
		out[i] = f.file
	}
	return out
}
