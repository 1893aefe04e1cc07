package cli

import (
	"strings"
	"testing"

	"docket.dev/docket/internal/server"
)

// TestServerFlags: values no server can run with are refused before it starts, naming
// the flag; the defaults pass.
func TestServerFlags(t *testing.T) {
	t.Parallel()
	if err := checkServerFlags(server.DefaultConfig()); err != nil {
		t.Fatalf("the defaults: %v", err)
	}
	for args, want := range map[string]string{
		"--schedule-interval 0":                              "--schedule-interval 0s: must be more than 0",
		"--default-deadline 48h":                             "--default-deadline 48h0m0s is longer than --max-deadline 24h0m0s, so no job without a deadline could be applied",
		"--default-deadline 0":                               "--default-deadline 0s: must be more than 0",
		"--retry-backoff -5s":                                "--retry-backoff -5s: must not be negative",
		"--max-steps 20000":                                  "--max-steps 20000: use 1 to 10000",
		"--rate-limit 0":                                     "--rate-limit 0: more than 0 requests a second",
		"--api-url notaurl":                                  `--api-url "notaurl": give the URL runs reach this server at, like http://docket.docket.svc:8080`,
		"--retain-per-job -3":                                "--retain-per-job -3: must not be negative",
		"--max-input-file -1":                                "--max-input-file -1: at least 1 byte",
		"--max-held-uploads 100":                             "--max-held-uploads 100 is less than --max-input-file 268435456, so the largest file could not be sent",
		"--team-namespace ds=ml":                             "--team-namespace is for --executor kubernetes, not process",
		"--executor kubernetes --team-namespace ds=ml":       `--team-namespace "ds=ml": "ml" is not --namespace (default) or one of --other-namespaces`,
		"--executor kubernetes --team-namespace ds":          `--team-namespace "ds": give TEAM=NAMESPACE[,NAMESPACE], like ds=ml`,
		"--executor kubernetes --team-namespace Ds!=default": `--team-namespace "Ds!=default": team "Ds!" is not a team label value (letters, digits, '-', '_', '.'; at most 63)`,
		"--executor kubernetes --other-namespaces ml --team-namespace ds=ml,default --team-namespace etl=ml": `--team-namespace "etl=ml": namespace ml is team ds's already`,
		"--addr bogus":          `--addr "bogus": give HOST:PORT, like 127.0.0.1:8080 or :8080`,
		"--instance-ttl 1ms":    "--instance-ttl 1ms: at least 3ms",
		"--parallelism 0":       "--parallelism 0: at least 1",
		"--pushgateway gw:9091": `--pushgateway "gw:9091": give the gateway's URL, like http://pushgateway:9091`,
	} {
		wantUsage(t, append([]string{"server", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0"}, strings.Fields(args)...), want)
	}
}
