package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// madeByPrometheus are series Prometheus records itself for each target, not served on
// /metrics.
var madeByPrometheus = []string{"up"}

// TestMonitoringMetrics reads the alert rules and the Grafana dashboard in
// deploy/monitoring, parses each PromQL expression with Prometheus' own parser, and checks
// that every metric they name is served by a real server's /metrics once it has run,
// skipped and reported something.
func TestMonitoringMetrics(t *testing.T) {
	t.Parallel()
	exprs := monitoringExprs(t)
	used := map[string][]string{} // metric -> where it is used
	for where, expr := range exprs {
		for _, name := range metricNames(t, where, expr) {
			used[name] = append(used[name], where)
		}
	}
	if len(used) < 8 {
		t.Fatalf("the rules and the dashboard use only %d metrics: %v", len(used), used)
	}

	dir := t.TempDir()
	s := startServer(t, dir+"/data")
	jobs := writeFile(t, dir, "jobs.yaml", fmt.Sprintf(`name: tick
image: busybox
command: [%q, "report", "--metric", "records_read=1200"]
cpu: 100m
memory: 64Mi
schedule: "@every 1s"
---
name: idle
image: busybox
command: ["true"]
cpu: 100m
memory: 64Mi
schedule: "@every 1s"
`, binary))
	if _, stderr, code := s.cli("apply", "-f", jobs); code != 0 {
		t.Fatalf("apply: %s", stderr)
	}
	if _, stderr, code := s.cli("suspend", "idle"); code != 0 {
		t.Fatalf("suspend: %s", stderr)
	}
	waitFor(t, 30*time.Second, "a scheduled run that reported and a skipped slot", func() bool {
		return len(s.allRuns("job=tick&state=succeeded")) >= 1 && len(s.allRuns("job=idle&state=skipped")) >= 1
	})
	// A run's counters are fed just after its end is stored, so the first scrape may come
	// between the two: scrape again for a while before calling a metric missing.
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		served := servedNames(scrape(t, s.URL+"/metrics").families)
		missing = missing[:0]
		for name, where := range used {
			if !served[name] && !slices.Contains(madeByPrometheus, name) {
				slices.Sort(where)
				missing = append(missing, fmt.Sprintf("%s, used by %s, is not on /metrics", name, strings.Join(slices.Compact(where), ", ")))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Error(m)
	}
}

// monitoringExprs returns every PromQL expression of deploy/monitoring, by where it is.
func monitoringExprs(t *testing.T) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	data, err := os.ReadFile("../deploy/monitoring/docket-alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Record, Expr string }
		}
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		t.Fatalf("docket-alerts.yaml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs["alert "+r.Alert+r.Record] = r.Expr
		}
	}

	data, err = os.ReadFile("../deploy/monitoring/docket-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string
		Targets []struct{ Expr string }
		Panels  []json.RawMessage // a row's panels
	}
	var dash struct {
		Panels     []json.RawMessage
		Templating struct {
			List []struct {
				Name, Type string
				Definition string
			}
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("docket-dashboard.json: %v", err)
	}
	var walk func(raw []json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("docket-dashboard.json: panel: %v", err)
			}
			for i, target := range p.Targets {
				exprs[fmt.Sprintf("panel %q (%c)", p.Title, 'A'+i)] = target.Expr
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	labelValues := regexp.MustCompile(`^label_values\(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_]\w*\)$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Fatalf("docket-dashboard.json: variable %s: %q is not label_values(METRIC, LABEL)", v.Name, v.Definition)
		}
		exprs["variable "+v.Name] = m[1]
	}
	for where, expr := range exprs {
		if strings.TrimSpace(expr) == "" {
			t.Errorf("%s has no expression", where)
		}
	}
	return exprs
}

// grafanaVariables stand for the dashboard's variables, so that its queries parse as
// Prometheus receives them.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1d", "$job", ".*")

// metricNames parses expr and returns the metric names its selectors use.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	parsed, err := parser.ParseExpr(grafanaVariables.Replace(expr))
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return nil
	}
	var names []string
	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%s: a selector without a metric name: %s", where, vs)
			}
			names = append(names, name)
		}
		return nil
	})
	return names
}

// servedNames are the series names a scrape serves: a histogram's _bucket, _sum and
// _count, a summary's _sum and _count.
func servedNames(families map[string]*dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for name, f := range families {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}
