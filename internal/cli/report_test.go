package cli

import (
	"strings"
	"testing"
)

// TestReportArgs: docket report takes flags only; a metric given bare is told its flag,
// before anything is sent.
func TestReportArgs(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{
		"loss=0.5":     "report takes flags: --metric loss=0.5 for a metric, --result for a result",
		"model.pkl":    `report takes flags, not "model.pkl": --metric NAME=VALUE, --result, --checkpoint or --file`,
		"=5 --run r-1": `report takes flags, not "=5": --metric NAME=VALUE, --result, --checkpoint or --file`,
		// Kept under its name alone, two files of one name would be one.
		"--file a/r.txt --file b/r.txt": "--file a/r.txt and --file b/r.txt are both kept as r.txt; rename one of them",
		"--metric loss=NaN":             `--metric loss: "NaN" is not a finite number`,
		"--metric loss=1e999":           `--metric loss: "1e999" is not a finite number`,
		`--result {"x":1`:               "--result: not a JSON document: unexpected end of JSON input",
		"--result done":                 `--result: not a JSON document (a string must be quoted: '"done"')`,
	} {
		wantUsage(t, append([]string{"report", "--server", noServer, "--run", "r-1"}, strings.Fields(args)...), want)
	}
}
