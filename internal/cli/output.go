package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	"gopkg.in/yaml.v3"
	sigsyaml "sigs.k8s.io/yaml"

	"docket.dev/docket/internal/job"
)

// The output formats of -o.
const (
	outputText = "text"
	outputWide = "wide"
	outputJSON = "json"
	outputYAML = "yaml"
)

// checkOutput says whether format is one -o takes.
func checkOutput(format string) error {
	switch format {
	case outputText, outputWide, outputJSON, outputYAML:
		return nil
	}
	return fmt.Errorf("--output %q: use text, wide, json or yaml", format)
}

// structured reports whether the user asked for JSON or YAML rather than text.
func (e *env) structured() bool { return e.output == outputJSON || e.output == outputYAML }

// wide reports whether the user asked for tables with more columns (-o wide).
func (e *env) wide() bool { return e.output == outputWide }

// print writes v as -o asks: indented JSON, or YAML with the fields in the order JSON has
// them (a job definition reads as the reference writes it, name first).
func (e *env) print(v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if e.output == outputYAML {
		if data, err = yamlOf(data); err != nil {
			return err
		}
		_, err = e.stdout.Write(data)
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", data)
	return err
}

// yamlOf turns a JSON document into YAML, keeping the order of its fields. Strings that
// YAML would read as something else (numbers, booleans, dates, "null") are quoted, and
// strings of several lines are written as literal blocks.
func yamlOf(js []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("convert to YAML: %w", err)
	}
	blockStyle(&doc)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("convert to YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// blockStyle drops the JSON look of a node read from JSON ({...}, [...], "...") so that the
// encoder writes block YAML. A string is written plain only when YAML 1.1, which docket
// apply reads with, reads it back as the same string (not yes, 1:20 or 0755).
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		switch {
		case strings.Contains(strings.TrimRight(n.Value, "\n"), "\n"):
			n.Style = yaml.LiteralStyle
		case !readsAsItself(n.Value):
			n.Style = yaml.DoubleQuotedStyle
		}
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// readsAsItself reports whether s, written plain, reads back as the string s.
func readsAsItself(s string) bool {
	var v any
	err := sigsyaml.Unmarshal([]byte(s), &v)
	return err == nil && v == s
}

// terminal reports whether w is a terminal, and its size (0 when unknown).
func terminal(w io.Writer) (tty bool, width, height int) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, 0, 0
	}
	width, height, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return true, 0, 0
	}
	return true, width, height
}

// durationText writes a duration as people read it: 850ms, 42s, 3m20s, 2h5m.
func durationText(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return job.Duration(d.Round(time.Second)).String()
	}
	return job.Duration(d.Round(time.Minute)).String()
}
