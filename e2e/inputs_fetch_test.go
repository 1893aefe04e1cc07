package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestInputsFetch runs docket inputs fetch inside a run, as the Kubernetes executor's
// init container does, on a server that requires API tokens: the run's own token fetches
// its input files into a folder, and nothing else's.
func TestInputsFetch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token, tokens := tokensFile(t, dir, "ana", "editor")
	s := startServer(t, dir+"/data", "--tokens-file", tokens)
	as := func(args ...string) (string, string, int) {
		return docket(t, []string{"DOCKET_SERVER=" + s.URL, "DOCKET_TOKEN=" + token, "DOCKET_CONFIG=" + dir + "/none.yaml"}, args...)
	}
	def := writeFile(t, dir, "fetch.yaml", fmt.Sprintf(`name: fetch
image: busybox
command: ["sh", "-c", "\"$BIN\" inputs fetch --dir fetched && cat fetched/data.csv"]
cpu: 100m
memory: 64Mi
env: {BIN: %q}
`, binary))
	if _, errOut, code := as("apply", "-f", def); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	csv := writeFile(t, dir, "data.csv", "a,b\n1,2")
	out, errOut, code := as("run", "fetch", "--file", csv, "--wait", "--logs")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "fetched 1 input files") || !strings.Contains(out, "a,b\n1,2") {
		t.Errorf("the run did not fetch its file:\n%s", out)
	}
}
