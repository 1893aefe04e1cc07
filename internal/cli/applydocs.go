package cli

import (
	"fmt"

	"docket.dev/docket/internal/definition"
)

// applyDocs visits the documents of a file to apply, the queues first (the file's jobs may
// name them), then the jobs, each by its name; where says which document of file an error
// is about. An error of a visit ends the walk, prefixed with where.
func applyDocs(file string, docs [][]byte, queue, job func(name string, doc []byte, where string) error) error {
	where := func(i int) string {
		if len(docs) > 1 {
			return fmt.Sprintf("%s (document %d)", file, i+1)
		}
		return file
	}
	for i, doc := range docs {
		if definition.KindOf(doc) != definition.KindQueue {
			continue
		}
		q, err := definition.DecodeQueue(doc, "")
		if err == nil {
			err = queue(q.Name, doc, where(i))
		}
		if err != nil {
			return fmt.Errorf("%s: %s", where(i), describeError(err))
		}
	}
	for i, doc := range docs {
		if definition.KindOf(doc) == definition.KindQueue {
			continue
		}
		spec, err := definition.Decode(doc)
		if err != nil {
			return fmt.Errorf("%s: %w", where(i), err)
		}
		if spec.Name == "" {
			return fmt.Errorf("%s: name: is required", where(i))
		}
		if err := job(spec.Name, doc, where(i)); err != nil {
			return fmt.Errorf("%s: %s", where(i), describeError(err))
		}
	}
	return nil
}
