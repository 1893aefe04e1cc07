package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"docket.dev/docket/internal/definition"
	"docket.dev/docket/internal/job"
)

// applyDocs visits the documents of a file to apply, the queues first (the file's jobs may
// name them), then the jobs, each after the jobs of the file it runs after. A document's
// where says which of file's it is. Every document is decoded before any is visited, so a
// mistake the file itself holds (a field misspelt in its last job, say) applies nothing.
// An error of a visit ends the walk, prefixed with where.
func applyDocs(file string, docs [][]byte, queue, jobDoc func(d named) error) error {
	var queues, jobs []named
	for i, doc := range docs {
		where := file
		if len(docs) > 1 {
			where = fmt.Sprintf("%s (document %d)", file, i+1)
		}
		switch kind := definition.KindOf(doc); kind {
		case "":
		case definition.KindQueue:
			q, err := definition.DecodeQueue(doc, "")
			if err != nil {
				return fmt.Errorf("%s: %s", where, describeError(err))
			}
			queues = append(queues, named{name: q.Name, where: where, doc: doc})
			continue
		default:
			return fmt.Errorf("%s: kind: %.40q is no kind of document Docket takes; a queue's is kind: %s, and a job's has no kind", where, kind, definition.KindQueue)
		}
		spec, err := definition.Decode(doc)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		if spec.Name == "" {
			return fmt.Errorf("%s: name: is required", where)
		}
		jobs = append(jobs, named{spec.Name, where, doc, afterNames(spec), spec.Queues()})
	}
	for _, docs := range [][]named{queues, jobs} {
		if err := definedOnce(docs); err != nil {
			return err
		}
	}
	jobs, err := upstreamFirst(jobs)
	if err != nil {
		return err
	}
	for _, visit := range []struct {
		docs []named
		f    func(d named) error
	}{{queues, queue}, {jobs, jobDoc}} {
		for _, d := range visit.docs {
			if err := visit.f(d); err != nil {
				return fmt.Errorf("%s: %s", d.where, describeError(err))
			}
		}
	}
	return nil
}

// named is a document of a file being applied: its name, where it is in the file, and,
// for a job, the jobs it runs after (its after:) and the queues it names.
type named struct {
	name, where string
	doc         []byte
	after       []string
	// queues holds the queues a job names (its own, its steps').
	queues []string
}

// definedOnce refuses a name two documents of the file define: the second would replace
// the first, which is most often a copy left unrenamed.
func definedOnce(docs []named) error {
	first := map[string]string{}
	for _, d := range docs {
		if where, ok := first[d.name]; ok {
			return fmt.Errorf("%s: name: %s is defined in %s already; rename one, or keep one of them", d.where, d.name, where)
		}
		first[d.name] = d.where
	}
	return nil
}

func afterNames(spec job.Spec) []string {
	names := make([]string, len(spec.After))
	for i, a := range spec.After {
		names[i] = a.Job
	}
	return names
}

// upstreamFirst orders a file's jobs so that each comes after the jobs of the file it runs
// after (the server refuses an after: naming a job it does not have), in file order
// otherwise. Jobs of the file that run after one another in a circle are refused here,
// naming them, before anything is applied.
func upstreamFirst(jobs []named) ([]named, error) {
	// left holds the names not yet placed (definedOnce made them one a document).
	left := map[string]bool{}
	for _, j := range jobs {
		left[j.name] = true
	}
	placed := make([]bool, len(jobs))
	out := make([]named, 0, len(jobs))
	for len(out) < len(jobs) {
		progress := false
		for i, j := range jobs {
			if placed[i] || slices.ContainsFunc(j.after, func(up string) bool { return up != j.name && left[up] }) {
				continue
			}
			placed[i], progress = true, true
			delete(left, j.name)
			out = append(out, j)
		}
		if !progress {
			var circle []string
			first := ""
			for i, j := range jobs {
				if !placed[i] {
					circle = append(circle, j.name)
					first = cmp.Or(first, j.where)
				}
			}
			return nil, fmt.Errorf("%s: after: jobs %s of the file each run after another of them, in a cycle of triggers", first, strings.Join(circle, ", "))
		}
	}
	return out, nil
}
