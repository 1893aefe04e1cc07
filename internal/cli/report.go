package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func reportCmd(e *env) *cobra.Command {
	var (
		runID, result, checkpoint string
		metrics, files            []string
		getCheckpoint             bool
		getResult                 string
	)
	cmd := &cobra.Command{
		Use:   "report",
		Short: "From inside a run: report metrics, a result or a checkpoint, or read the checkpoint back",
		Long: `Run from inside a job, report tells Docket about the run: metrics (numbers by name,
shown on the run and exported on /metrics as docket_run_reported), a small JSON result,
and a checkpoint that a retry of the run reads back with --get-checkpoint to resume. A step of
a workflow reads the result of a step it needs with --get-result STEP.

Every run gets DOCKET_API (where the server is), DOCKET_TOKEN (a token that reports on this
run only) and DOCKET_RUN_ID, and report reads them. The same with curl:

  curl -sSf -H "Authorization: Bearer $DOCKET_TOKEN" -d '{"metrics": {"records_read": 1200}}' \
    "$DOCKET_API/api/v1/runs/$DOCKET_RUN_ID/report"`,
		Example: `  docket report --metric records_read=1200 --metric models_updated=3
  docket report --result '{"auc": 0.91, "model": "s3://models/2026-11-23"}'
  docket report --result @result.json
  docket report --checkpoint '{"offset": 50000}'
  docket report --file out.parquet --file summary.csv
  offset=$(docket report --get-checkpoint | jq -r '.offset // 0')
  data=$(docket report --get-result extract | jq -r .path)   # in a later step of a workflow`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			// Flags say what each value is; a metric given bare is told its flag.
			if name, _, ok := strings.Cut(args[0], "="); ok && name != "" {
				return usageError{fmt.Errorf("report takes flags: --metric %s for a metric, --result for a result", args[0])}
			}
			return usageError{fmt.Errorf("report takes flags, not %q: --metric NAME=VALUE, --result, --checkpoint or --file", args[0])}
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runID == "" {
				return usageError{errors.New("no run: DOCKET_RUN_ID is not set (report runs inside a job), and --run is not given")}
			}
			if !cmd.Flags().Changed("server") {
				if api := os.Getenv("DOCKET_API"); api != "" {
					e.server = api
				}
			}
			c := e.client()
			if getResult != "" {
				if len(metrics) > 0 || result != "" || checkpoint != "" || len(files) > 0 || getCheckpoint {
					return usageError{errors.New("--get-result reads; give it alone")}
				}
				doc, found, err := c.StepResult(cmd.Context(), runID, getResult)
				switch {
				case err != nil:
					return err
				case !found:
					return fmt.Errorf("step %s of the workflow of run %s has no result: it has not succeeded, or reported none", getResult, runID)
				case e.structured():
					return e.print(map[string]any{"step": getResult, "result": doc})
				}
				fmt.Fprintf(e.stdout, "%s\n", oneLine(doc))
				return nil
			}
			if getCheckpoint {
				if len(metrics) > 0 || result != "" || checkpoint != "" || len(files) > 0 {
					return usageError{errors.New("--get-checkpoint reads; give it alone")}
				}
				doc, from, found, err := c.Checkpoint(cmd.Context(), runID)
				switch {
				case err != nil:
					return err
				case !found:
					// null, so that jq -r '.offset // 0' reads the default on a first attempt.
					fmt.Fprintf(e.stderr, "no checkpoint saved by run %s or the attempts before it\n", runID)
					if e.structured() {
						return e.print(map[string]any{"run_id": nil, "checkpoint": nil})
					}
					fmt.Fprintln(e.stdout, "null")
					return nil
				case e.structured():
					return e.print(map[string]any{"run_id": from, "checkpoint": doc})
				}
				fmt.Fprintf(e.stdout, "%s\n", oneLine(doc))
				return nil
			}
			parsed, err := parseMetrics(metrics)
			if err != nil {
				return usageError{err}
			}
			res, err := jsonArg("--result", result)
			if err != nil {
				return usageError{err}
			}
			cp, err := jsonArg("--checkpoint", checkpoint)
			if err != nil {
				return usageError{err}
			}
			if len(parsed) == 0 && res == nil && cp == nil && len(files) == 0 {
				return usageError{errors.New("nothing to report: give --metric NAME=VALUE, --result JSON, --checkpoint JSON or --file FILE")}
			}
			kept := map[string]string{}
			for _, path := range files {
				// A file is kept under its name alone: two of one name would be one.
				if other, ok := kept[filepath.Base(path)]; ok {
					return usageError{fmt.Errorf("--file %s and --file %s are both kept as %s; rename one of them", other, path, filepath.Base(path))}
				}
				kept[filepath.Base(path)] = path
			}
			for _, path := range files {
				lf, err := describeFile(path, filepath.Base(path))
				if err != nil {
					return err
				}
				if err := c.UploadOutput(cmd.Context(), runID, path, lf.file); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "kept %s (%s) with run %s\n", lf.file.Path, bytesText(lf.file.Size), runID)
			}
			if len(parsed) == 0 && res == nil && cp == nil {
				return nil
			}
			rep, err := c.Report(cmd.Context(), runID, parsed, res, cp)
			if err != nil {
				return namedFlags(err, reportFlags)
			}
			if e.structured() {
				return e.print(rep)
			}
			var parts []string
			switch len(parsed) {
			case 0:
			case 1:
				parts = append(parts, "1 metric")
			default:
				parts = append(parts, fmt.Sprintf("%d metrics", len(parsed)))
			}
			if res != nil {
				parts = append(parts, "the result")
			}
			if cp != nil {
				parts = append(parts, "a checkpoint")
			}
			fmt.Fprintf(e.stderr, "reported %s for run %s\n", strings.Join(parts, ", "), runID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&runID, "run", os.Getenv("DOCKET_RUN_ID"), "the run to report on (env DOCKET_RUN_ID)")
	f.StringArrayVar(&metrics, "metric", nil, "a metric NAME=VALUE (a number); repeatable")
	f.StringVar(&result, "result", "", "the run's result: a JSON document, or @FILE")
	f.StringVar(&checkpoint, "checkpoint", "", "a checkpoint to resume from: a JSON document, or @FILE")
	f.StringArrayVar(&files, "file", nil, "keep a file with the run as an output file (docket results --download fetches it); repeatable")
	f.BoolVar(&getCheckpoint, "get-checkpoint", false, "print the newest checkpoint of this run or the attempts before it (null when none)")
	f.StringVar(&getResult, "get-result", "", "print the result STEP of this run's workflow reported (a step it needs)")
	return cmd
}

// parseMetrics reads NAME=VALUE pairs; a later one of a name wins.
func parseMetrics(pairs []string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, p := range pairs {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--metric %q: write NAME=VALUE, e.g. records_read=1200", p)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			return nil, fmt.Errorf("--metric %s: %q is not a number", name, value)
		case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
			return nil, fmt.Errorf("--metric %s: %q is not a finite number", name, value)
		}
		out[name] = v
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// jsonArg reads a flag's JSON document, given inline or as @FILE; "" is none.
func jsonArg(flag, value string) (json.RawMessage, error) {
	if value == "" {
		return nil, nil
	}
	data := []byte(value)
	if path, ok := strings.CutPrefix(value, "@"); ok {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		if t := bytes.TrimSpace(data); len(t) > 0 && (t[0] == '{' || t[0] == '[' || t[0] == '"') {
			return nil, fmt.Errorf("%s: not a JSON document: %v", flag, err)
		}
		return nil, fmt.Errorf("%s: not a JSON document (a string must be quoted: '\"done\"')", flag)
	}
	return json.RawMessage(data), nil
}

// printReport adds what a run reported to its description.
func (e *env) printReport(metrics map[string]float64, result json.RawMessage) {
	if len(metrics) > 0 {
		fmt.Fprintln(e.stdout, "\nReported:")
		tw := e.table()
		for _, name := range slices.Sorted(maps.Keys(metrics)) {
			fmt.Fprintf(tw, "  %s\t%s\n", name, strconv.FormatFloat(metrics[name], 'g', -1, 64))
		}
		tw.Flush()
	}
	if len(result) > 0 {
		fmt.Fprintf(e.stdout, "\nResult:\n  %s\n", oneLine(result))
	}
}

// oneLine is a JSON document on one line, as a shell script reads it best.
func oneLine(doc json.RawMessage) []byte {
	var b bytes.Buffer
	if json.Compact(&b, doc) != nil {
		return doc
	}
	return b.Bytes()
}
