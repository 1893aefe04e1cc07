package cli

import (
	"fmt"

	"docket.dev/docket/internal/definition"
)

// applyDocs visits the documents of a file to apply, the queues first (the file's jobs may
// name them), then the jobs, each by its name; where says which document of file an error
// is about. Every document is decoded before any is visited, so a mistake the file itself
// holds (a field misspelt in its last job, say) applies nothing. An error of a visit ends
// the walk, prefixed with where.
func applyDocs(file string, docs [][]byte, queue, job func(name string, doc []byte, where string) error) error {
	type named struct {
		name, where string
		doc         []byte
	}
	var queues, jobs []named
	for i, doc := range docs {
		where := file
		if len(docs) > 1 {
			where = fmt.Sprintf("%s (document %d)", file, i+1)
		}
		if definition.KindOf(doc) == definition.KindQueue {
			q, err := definition.DecodeQueue(doc, "")
			if err != nil {
				return fmt.Errorf("%s: %s", where, describeError(err))
			}
			queues = append(queues, named{q.Name, where, doc})
			continue
		}
		spec, err := definition.Decode(doc)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if spec.Name == "" {
			return fmt.Errorf("%s: name: is required", where)
		}
		jobs = append(jobs, named{spec.Name, where, doc})
	}
	for _, visit := range []struct {
		docs []named
		f    func(name string, doc []byte, where string) error
	}{{queues, queue}, {jobs, job}} {
		for _, d := range visit.docs {
			if err := visit.f(d.name, d.doc, d.where); err != nil {
				return fmt.Errorf("%s: %s", d.where, describeError(err))
			}
		}
	}
	return nil
}
