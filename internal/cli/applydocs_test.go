package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestApplyDocs: the queues of a file are visited before its jobs, each in the file's
// order; a document that does not decode applies nothing of the file, and the error says
// which document it is.
func TestApplyDocs(t *testing.T) {
	t.Parallel()
	const (
		jobA   = "name: a\nimage: busybox\ncpu: 100m\nmemory: 16Mi\ncommand: [\"true\"]\n"
		queueQ = "kind: Queue\nname: q\nmax_running: 2\n"
		jobB   = "name: b\nimage: busybox\ncpu: 100m\nmemory: 16Mi\ncommand: [\"true\"]\nqueue: q\n"
	)
	var visited []string
	visit := func(kind string) func(string, []byte, string) error {
		return func(name string, _ []byte, _ string) error {
			visited = append(visited, kind+" "+name)
			return nil
		}
	}
	docs := [][]byte{[]byte(jobA), []byte(queueQ), []byte(jobB)}
	if err := applyDocs("f.yaml", docs, visit("queue"), visit("job")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"queue q", "job a", "job b"}; !slices.Equal(visited, want) {
		t.Errorf("visited %q; want %q", visited, want)
	}

	visited = nil
	docs = append(docs, []byte(strings.Replace(jobB, "name: b", "name: c\nafter: [a]", 1)))
	err := applyDocs("f.yaml", docs, visit("queue"), visit("job"))
	if err == nil || !strings.Contains(err.Error(), "f.yaml (document 4): after[0]") {
		t.Errorf("a file whose last job does not decode: %v; want an error naming document 4's after[0]", err)
	}
	if len(visited) > 0 {
		t.Errorf("a file with a document that does not decode applied %q", visited)
	}
}
