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
	visit := func(kind string) func(named) error {
		return func(d named) error {
			visited = append(visited, kind+" "+d.name)
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
	// A kind Docket does not take (a queue's written lowercase) is said so.
	err = applyDocs("f.yaml", [][]byte{[]byte(jobA), []byte(strings.Replace(queueQ, "Queue", "queue", 1))}, visit("queue"), visit("job"))
	if err == nil || err.Error() != `f.yaml (document 2): kind: "queue" is no kind of document Docket takes; a queue's is kind: Queue, and a job's has no kind` || len(visited) > 0 {
		t.Errorf("kind: queue: %v, visited %q", err, visited)
	}
}

// TestApplyDocsUpstreamFirst: a file's job is visited after the jobs of the file it runs
// after, whatever their order in the file; jobs of the file that run after one another in
// a circle apply nothing, and the error names them.
func TestApplyDocsUpstreamFirst(t *testing.T) {
	t.Parallel()
	job := func(name string, after ...string) []byte {
		doc := "name: " + name + "\nimage: busybox\ncpu: 100m\nmemory: 16Mi\ncommand: [\"true\"]\n"
		for _, a := range after {
			doc += "after:\n  - job: " + a + "\n"
		}
		return []byte(doc)
	}
	var visited []string
	visit := func(d named) error {
		visited = append(visited, d.name)
		return nil
	}
	none := func(named) error { return nil }
	// report runs after train, train after load (stored before, not in the file).
	docs := [][]byte{job("report", "train"), job("audit"), job("train", "load")}
	if err := applyDocs("f.yaml", docs, none, visit); err != nil {
		t.Fatal(err)
	}
	if want := []string{"audit", "train", "report"}; !slices.Equal(visited, want) {
		t.Errorf("visited %q; want %q", visited, want)
	}

	// A job defined twice is refused, naming both documents, and nothing is applied.
	visited = nil
	docs = [][]byte{job("report", "train"), job("train"), job("report", "train")}
	err := applyDocs("f.yaml", docs, none, visit)
	if want := "f.yaml (document 3): name: report is defined in f.yaml (document 1) already; rename one, or keep one of them"; err == nil || err.Error() != want || len(visited) > 0 {
		t.Errorf("a job defined twice: %v, visited %q; want %q", err, visited, want)
	}

	visited = nil
	docs = [][]byte{job("audit"), job("ca", "cb"), job("cb", "ca")}
	err = applyDocs("f.yaml", docs, none, visit)
	if err == nil || err.Error() != "f.yaml (document 2): after: jobs ca, cb of the file each run after another of them, in a cycle of triggers" {
		t.Errorf("a file whose jobs run after each other: %v", err)
	}
	if len(visited) > 0 {
		t.Errorf("a file with a cycle of triggers applied %q", visited)
	}
}
