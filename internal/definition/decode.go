// Package definition reads and checks what a user writes: it decodes a job definition
// from YAML or JSON, strictly, and normalizes it, so that every mistake is caught when the
// job is applied, with a message naming the field, and never when a run starts.
package definition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	yamlv3 "gopkg.in/yaml.v3"
	"sigs.k8s.io/yaml"

	"docket.dev/docket/internal/job"
)

// fieldOrder lists a definition's fields in the order the reference documents them; the
// first invalid one in this order is the one reported.
var fieldOrder = []string{
	"name", "image", "command", "cpu", "memory", "gpu", "schedule", "timezone", "concurrency",
	"catchup", "deadline", "retries", "retry_on", "expect_success_within", "env", "labels",
	"annotations", "kubernetes", "steps", "tasks", "parallelism", "max_failed", "after", "queue",
	"params",
}

// kubernetesFields are the fields of a definition's kubernetes block, in reference order.
var kubernetesFields = []string{"namespace", "node_selector", "tolerations", "service_account", "priority_class"}

// docSeparator matches a YAML document separator line.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// SplitDocuments splits a YAML stream into its documents, dropping empty ones (a leading
// "---", comments only). A JSON body is one document.
func SplitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, part := range docSeparator.Split(string(data), -1) {
		if hasContent(part) {
			docs = append(docs, []byte(part))
		}
	}
	return docs
}

// hasContent reports whether a YAML document holds more than blank lines and comments.
func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") && line != "..." {
			return true
		}
	}
	return false
}

// Decode reads one job definition from YAML or JSON (JSON is YAML). Unknown fields,
// duplicate keys, values of the wrong type and streams of several documents are errors; a
// field error is a *job.FieldError naming the field. Decode does not validate values; see
// Normalize.
func Decode(data []byte) (job.Spec, error) {
	var spec job.Spec
	switch docs := SplitDocuments(data); len(docs) {
	case 0:
		return spec, job.Invalid("", "the definition is empty; it needs at least name, image, cpu and memory")
	case 1:
	default:
		return spec, job.Invalid("", "the body holds %d YAML documents; send one job definition at a time", len(docs))
	}
	if err := wholeDocument(data); err != nil {
		return spec, err
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return spec, job.Invalid("", "not valid YAML or JSON: %s", strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil || fields == nil {
		return spec, job.Invalid("", "a job definition must be a mapping of fields such as name: and image:")
	}
	targets := map[string]any{
		"name": &spec.Name, "image": &spec.Image, "command": &spec.Command,
		"cpu": &spec.CPU, "memory": &spec.Memory, "gpu": &spec.GPU, "schedule": &spec.Schedule,
		"timezone": &spec.Timezone, "concurrency": &spec.Concurrency, "catchup": &spec.Catchup,
		"deadline": &spec.Deadline, "retries": &spec.Retries, "retry_on": &spec.RetryOn, "env": &spec.Env,
		"expect_success_within": &spec.ExpectSuccessWithin,
		"labels":                &spec.Labels, "annotations": &spec.Annotations,
		"kubernetes": &spec.Kubernetes,
		"steps":      &spec.Steps, "tasks": &spec.Tasks, "parallelism": &spec.Parallelism,
		"max_failed": &spec.MaxFailed, "after": &spec.After,
		"queue": &spec.Queue, "params": &spec.Params,
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := targets[k]; !ok {
			return spec, unknownField(k)
		}
	}
	for _, k := range fieldOrder {
		raw, ok := fields[k]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := decodeField(k, raw, targets[k]); err != nil {
			return spec, err
		}
	}
	// Normalize gives a definition without a deadline the server's default; one written
	// as zero would silently get it too, so it is refused here, where the two differ.
	if raw, ok := fields["deadline"]; ok && string(raw) != "null" && spec.Deadline == 0 {
		return spec, job.Invalid("deadline", "%s is no deadline, and every run has one; give one such as 2h, or leave deadline out for the server's default", spec.Deadline)
	}
	return spec, nil
}

// decodeField decodes one field's value, naming the field in any error. Quantities and
// map values may be written as bare numbers (cpu: 2, env: {THREADS: 4}), as users do.
func decodeField(field string, raw json.RawMessage, target any) error {
	switch t := target.(type) {
	case *string:
		s, err := scalarString(raw, field == "cpu" || field == "memory")
		if err != nil {
			return job.Invalid(field, "%s", err)
		}
		*t = s
		return nil
	case *map[string]string:
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return job.Invalid(field, "must be a mapping of names to strings")
		}
		out := make(map[string]string, len(m))
		for k, v := range m {
			s, err := scalarString(v, true)
			if err != nil {
				return job.Invalid(field+"."+k, "%s", err)
			}
			out[k] = s
		}
		*t = out
		return nil
	case *[]string:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return job.Invalid(field, "must be a list of strings, such as %s", listExample(field))
		}
		out := make([]string, len(items))
		for i, v := range items {
			s, err := scalarString(v, true)
			if err != nil {
				return job.Invalid(fmt.Sprintf("%s[%d]", field, i), "%s", err)
			}
			out[i] = s
		}
		*t = out
		return nil
	case **job.Kubernetes:
		return decodeKubernetes(field, raw, t)
	case *[]job.Step:
		return decodeSteps(field, raw, t)
	case *[]job.After:
		return decodeAfter(field, raw, t)
	case *[]job.RetryRule:
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(t); err != nil {
			return job.Invalid(field, "must be a list of rules such as {exit_code: \"137\", action: exit} (fields exit_code, reason, message, action): %s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return nil
	case **int:
		var n int
		if err := decodeField(field, raw, &n); err != nil {
			return err
		}
		*t = &n
		return nil
	case *int:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return job.Invalid(field, "must be a whole number")
		}
		v, err := n.Int64()
		if err != nil || v < -1<<31 || v > 1<<31-1 {
			return job.Invalid(field, "must be a whole number, not %s", n)
		}
		*t = int(v)
		return nil
	}
	if err := json.Unmarshal(raw, target); err != nil {
		if _, ok := err.(*json.UnmarshalTypeError); ok {
			return job.Invalid(field, "must be a string")
		}
		return job.Invalid(field, "%s", err)
	}
	return nil
}

// decodeKubernetes reads the kubernetes block, strictly, naming each field as
// kubernetes.FIELD. A block with nothing set is no block.
func decodeKubernetes(field string, raw json.RawMessage, t **job.Kubernetes) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return job.Invalid(field, "must be a mapping with fields such as node_selector: and tolerations:")
	}
	var k job.Kubernetes
	targets := map[string]any{
		"namespace": &k.Namespace, "node_selector": &k.NodeSelector, "tolerations": &k.Tolerations,
		"service_account": &k.ServiceAccount, "priority_class": &k.PriorityClass,
	}
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if _, ok := targets[name]; !ok {
			return job.Invalid(field+"."+name, "is not a field of kubernetes; the fields are %s", strings.Join(kubernetesFields, ", "))
		}
	}
	for _, name := range kubernetesFields {
		if v, ok := fields[name]; ok && string(v) != "null" {
			if err := decodeField(field+"."+name, v, targets[name]); err != nil {
				return err
			}
		}
	}
	if k.Namespace != "" || len(k.NodeSelector) > 0 || len(k.Tolerations) > 0 || k.ServiceAccount != "" || k.PriorityClass != "" {
		*t = &k
	}
	return nil
}

// scalarString reads a JSON string, or a number's literal text when numbers are allowed.
func scalarString(raw json.RawMessage, numbers bool) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	raw = bytes.TrimSpace(raw)
	if numbers && len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err == nil {
			return n.String(), nil
		}
	}
	switch {
	case bytes.Equal(raw, []byte("true")), bytes.Equal(raw, []byte("false")):
		return "", fmt.Errorf("must be a string, not the boolean %s; quote it (YAML reads y, n, yes, no, on and off as booleans)", raw)
	case len(raw) > 0 && (raw[0] == '{' || raw[0] == '['):
		return "", fmt.Errorf("must be a string, not a %s", map[byte]string{'{': "mapping", '[': "list"}[raw[0]])
	}
	return "", fmt.Errorf("must be a string")
}

// unknownField explains a field Docket does not know, suggesting the nearest known one.
func unknownField(k string) error {
	if k == "kind" {
		return job.Invalid(k, "a job definition has no kind; only a queue's document has one, kind: %s", KindQueue)
	}
	best, bestDist := "", 3
	for _, f := range fieldOrder {
		if d := distance(strings.ToLower(k), f); d < bestDist {
			best, bestDist = f, d
		}
	}
	if best != "" {
		return job.Invalid(k, "is not a field of a job definition; did you mean %q?", best)
	}
	return job.Invalid(k, "is not a field of a job definition; the fields are %s", strings.Join(fieldOrder, ", "))
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = slices.Min([]int{prev[j] + 1, cur[j-1] + 1, prev[j-1] + cost})
		}
		prev = cur
	}
	return prev[len(b)]
}

// wholeDocument refuses text after the end of the one document data holds. A flow
// mapping ({...}, and so JSON) ends at its closing brace, and the YAML to JSON conversion
// would drop whatever follows it without a word: `{"name": "x"}` then `schedule: "@daily"`
// on the next line would store a job without its schedule.
func wholeDocument(data []byte) error {
	d := yamlv3.NewDecoder(bytes.NewReader(data))
	var doc yamlv3.Node
	if err := d.Decode(&doc); err != nil {
		return nil // the conversion below says what is wrong, naming the line
	}
	if err := d.Decode(&doc); err != io.EOF {
		return job.Invalid("", "text follows the end of the definition: a definition written as {...} (or JSON) must hold all its fields inside the braces")
	}
	return nil
}

// listExample is an example of the list of strings field holds.
func listExample(field string) string {
	switch {
	case strings.HasSuffix(field, "needs"):
		return `[extract, clean]`
	case strings.HasSuffix(field, "command"):
		return `["python", "train.py"]`
	}
	return `[a, b]`
}
