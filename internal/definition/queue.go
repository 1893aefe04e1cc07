package definition

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"docket.dev/docket/internal/job"
)

// KindQueue is the kind of a YAML document that defines a queue; a document without a
// kind is a job definition.
const KindQueue = "Queue"

// queueFields are a queue document's fields, in reference order.
var queueFields = []string{"kind", "name", "max_running", "max_starts_per_second", "priority", "disabled"}

// DecodeQueue reads one queue from YAML or JSON, strictly (unknown fields, wrong types
// and several documents are field errors), and checks it. The name may be left out when
// the caller knows it (a URL); name, when set, is what it must be.
func DecodeQueue(data []byte, name string) (job.Queue, error) {
	var q job.Queue
	if docs := SplitDocuments(data); len(docs) > 1 {
		return q, job.Invalid("", "the body holds %d YAML documents; send one queue at a time", len(docs))
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return q, job.Invalid("", "not valid YAML or JSON: %s", strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil || fields == nil {
		return q, job.Invalid("", "a queue must be a mapping of fields such as max_running: and priority:")
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(queueFields, k) {
			if best := Nearest(k, queueFields); best != "" {
				return q, job.Invalid(k, "is not a field of a queue; did you mean %q?", best)
			}
			return q, job.Invalid(k, "is not a field of a queue; the fields are %s", strings.Join(queueFields, ", "))
		}
	}
	var kind string
	for field, target := range map[string]any{"kind": &kind, "name": &q.Name} {
		if raw, ok := fields[field]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, target); err != nil {
				return q, job.Invalid(field, "must be a string")
			}
		}
	}
	if kind != "" && kind != KindQueue {
		return q, job.Invalid("kind", "%q is not a queue's kind; write kind: Queue", kind)
	}
	for field, target := range map[string]*int{"max_running": &q.MaxRunning, "priority": &q.Priority} {
		if raw, ok := fields[field]; ok && string(raw) != "null" {
			if err := decodeField(field, raw, target); err != nil {
				return q, err
			}
		}
	}
	if raw, ok := fields["max_starts_per_second"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &q.MaxStartsPerSecond); err != nil {
			return q, job.Invalid("max_starts_per_second", "must be a number, such as 2 or 0.5")
		}
	}
	if raw, ok := fields["disabled"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &q.Disabled); err != nil {
			return q, job.Invalid("disabled", "must be true or false")
		}
	}
	switch {
	case q.Name == "" && name == "":
		return q, job.Invalid("name", "is required: a lowercase name such as gpu")
	case q.Name == "":
		q.Name = name
	case name != "" && q.Name != name:
		return q, job.Invalid("name", "the queue is named %q but the URL names %q", q.Name, name)
	}
	if !ValidQueueName(q.Name) {
		return q, job.Invalid("name", "%q is not a queue name: use lowercase letters, digits and '-', at most %d", q.Name, MaxNameLength)
	}
	if q.Name == ReservedQueueName {
		return q, job.Invalid("name", "%q is what the default queue is called (the runs of jobs that name no queue, limited by each server's --parallelism; AWS Batch clients see it by that name); choose another name", q.Name)
	}
	return q, q.Validate()
}

// ReservedQueueName is the default queue's name where it needs one: no queue may be
// created by it.
const ReservedQueueName = "default"

// KindOf returns a YAML or JSON document's kind: field ("" when it has none or is not a
// mapping), so apply can tell queues from job definitions.
func KindOf(doc []byte) string {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return ""
	}
	var head struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(js, &head) != nil {
		return ""
	}
	return head.Kind
}
