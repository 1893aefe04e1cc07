package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"docket.dev/docket/internal/client"
	"docket.dev/docket/internal/job"
)

// watchEvery is how often docket runs --watch reads the runs again.
const watchEvery = time.Second

// watchRuns shows the runs f selects until ctx ends (Ctrl-C).
func watchRuns(ctx context.Context, e *env, f client.RunFilter) error {
	c := e.client()
	tty, _, _ := terminal(e.stdout)
	w := &runWatch{
		e:       e,
		table:   newRunTable(e, c),
		list:    func(ctx context.Context) ([]job.Run, error) { runs, _, err := c.Runs(ctx, f); return runs, err },
		inPlace: tty && !e.structured(),
		size: func() (int, int) {
			_, width, height := terminal(e.stdout)
			return width, height
		},
		seen: map[string]string{},
	}
	return w.run(ctx)
}

// runWatch follows a list of runs. In place (a terminal, text output) it redraws the
// table over the previous one; otherwise it prints the list once, then each run again
// when it appears or changes: as rows of the same table, or one JSON or YAML document per
// run with -o json or yaml.
type runWatch struct {
	e       *env
	table   *runTable
	list    func(ctx context.Context) ([]job.Run, error)
	inPlace bool
	// width and height are the terminal's (0 when unknown). A frame is cut to fit, lines
	// and all: the cursor cannot go back above the screen's top, and a line that wrapped
	// would take more lines than were counted.
	width, height int
	// size reads the terminal's size again before each frame, when set.
	size func() (width, height int)
	// seen holds what was shown of each run (see runWatch.shown); started and headed say
	// the first listing and the table's header were printed.
	seen            map[string]string
	started, headed bool
	columns         columns
	// lines is how many lines the last frame took (in place).
	lines int
}

// run reads and shows the runs every watchEvery until ctx ends.
func (w *runWatch) run(ctx context.Context) error {
	for {
		if w.inPlace && w.size != nil {
			w.width, w.height = w.size()
		}
		runs, err := w.list(ctx)
		if err == nil {
			err = w.table.lookupNodes(ctx, runs)
		}
		if err == nil {
			err = w.show(runs)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watchEvery):
		}
	}
}

// shown is the part of a run whose change shows the run again: state, reason, exit
// code and node, not the duration that grows while it runs.
func (w *runWatch) shown(r job.Run) string {
	return fmt.Sprintf("%s %s %s %s", r.State, r.Reason, exitText(r), w.table.nodes[r.ID].name)
}

func (w *runWatch) show(runs []job.Run) error {
	if w.inPlace {
		return w.redraw(runs)
	}
	first := !w.started
	w.started = true
	var changed []job.Run
	for _, r := range slices.Backward(runs) { // oldest first, as they happened
		if s := w.shown(r); w.seen[r.ID] != s {
			w.seen[r.ID] = s
			changed = append(changed, r)
		}
	}
	if w.e.structured() {
		for _, r := range changed {
			if w.e.output == outputYAML {
				fmt.Fprintln(w.e.stdout, "---")
			}
			if err := w.e.print(r); err != nil {
				return err
			}
		}
		return nil
	}
	if first && len(runs) == 0 {
		fmt.Fprintln(w.e.stdout, "no runs yet")
		return nil
	}
	if len(changed) == 0 {
		return nil
	}
	if first {
		slices.Reverse(changed) // the first listing reads newest first, as docket runs does
	}
	var rows []string
	if !w.headed {
		rows = append(rows, w.table.header())
		w.headed = true
	}
	for _, r := range changed {
		rows = append(rows, w.table.row(r))
	}
	_, err := io.WriteString(w.e.stdout, w.columns.align(rows))
	return err
}

// columns aligns rows printed at different times: a column is as wide as its widest
// cell so far, so later rows line up under the header.
type columns []int

// align pads the tab-separated cells of rows (each ending in a newline) to the columns'
// widths, widening them first to fit these rows.
func (c *columns) align(rows []string) string {
	cells := make([][]string, len(rows))
	for i, row := range rows {
		cells[i] = strings.Split(strings.TrimSuffix(row, "\n"), "\t")
		for j, cell := range cells[i] {
			if j == len(*c) {
				*c = append(*c, 0)
			}
			(*c)[j] = max((*c)[j], len(cell))
		}
	}
	var b strings.Builder
	for _, row := range cells {
		for j, cell := range row {
			if j == len(row)-1 {
				b.WriteString(cell + "\n")
			} else {
				b.WriteString(cell + strings.Repeat(" ", (*c)[j]-len(cell)+2))
			}
		}
	}
	return b.String()
}

// redraw writes the table over the previous frame: the cursor goes up the lines the
// last frame took and the screen is cleared from there.
func (w *runWatch) redraw(runs []job.Run) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "runs at %s, every %s (Ctrl-C stops)\n", w.table.now().Local().Format("15:04:05"), watchEvery)
	if len(runs) == 0 {
		b.WriteString("no runs\n")
	} else {
		tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
		fmt.Fprint(tw, w.table.header())
		for _, r := range runs {
			fmt.Fprint(tw, w.table.row(r))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if w.height > 1 && len(lines) > w.height-1 {
		keep := w.height - 2
		lines = append(lines[:keep], fmt.Sprintf("... %d more (--limit, --job or --state shows fewer)", len(lines)-keep))
	}
	for i, line := range lines {
		if w.width > 0 && len(line) > w.width {
			lines[i] = line[:w.width]
		}
	}
	frame := strings.Join(lines, "\n") + "\n"
	var out strings.Builder
	if w.lines > 0 {
		fmt.Fprintf(&out, "\x1b[%dA\r\x1b[J", w.lines)
	}
	out.WriteString(frame)
	w.lines = len(lines)
	_, err := io.WriteString(w.e.stdout, out.String())
	return err
}
