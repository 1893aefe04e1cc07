package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"docket.dev/docket/internal/alert"
)

func TestWebhooks(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "slack")
	if err := os.WriteFile(file, []byte("# the team's channel\nhttps://hooks.slack.com/services/T0/B0/s3cr3t-file\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKET_TEST_SLACK", "https://hooks.slack.com/services/T0/B0/s3cr3t-env\nhttps://chat.example/hook/2")
	got, err := webhooks(
		webhookSource{flag: "--webhook", envName: "DOCKET_TEST_NONE", format: alert.JSON, urls: []string{"http://alerts.example/in"}},
		webhookSource{flag: "--slack-webhook", fileFlag: "--slack-webhook-file", envName: "DOCKET_TEST_SLACK", format: alert.Slack, files: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	want := []alert.Webhook{
		{URL: "http://alerts.example/in", Format: alert.JSON},
		{URL: "https://hooks.slack.com/services/T0/B0/s3cr3t-file", Format: alert.Slack},
		{URL: "https://hooks.slack.com/services/T0/B0/s3cr3t-env", Format: alert.Slack},
		{URL: "https://chat.example/hook/2", Format: alert.Slack},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("webhooks (-want +got):\n%s", diff)
	}

	// A URL that is not one is refused, naming where it was given but not showing it.
	if err := os.WriteFile(file, []byte("https://hooks.slack.com/services/T0/B0/ok\nhooks.slack.com/services/T0/B0/s3cr3t-bad\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = webhooks(webhookSource{flag: "--slack-webhook", fileFlag: "--slack-webhook-file", format: alert.Slack, files: []string{file}})
	if err == nil || !strings.Contains(err.Error(), "--slack-webhook-file "+file+", line 2") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a bad URL in a file: %v", err)
	}
	_, err = webhooks(webhookSource{flag: "--slack-webhook", format: alert.Slack, urls: []string{"ftp://hooks.slack.com/services/s3cr3t"}})
	if err == nil || !strings.Contains(err.Error(), "--slack-webhook: ftp://hooks.slack.com/(hidden) is not an http or https URL") {
		t.Errorf("a bad URL in a flag: %v", err)
	}
}
