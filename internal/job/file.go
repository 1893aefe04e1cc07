package job

// File is a file kept with a run: one of its inputs, placed in its working directory
// before it starts, or an output file it reported. Its content is a blob, named by its
// SHA-256.
type File struct {
	// Path is where the file is, relative to the run's working directory (slashes).
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Mode holds the permission bits (0644, or 0755 for an executable).
	Mode uint32 `json:"mode,omitempty"`
}
