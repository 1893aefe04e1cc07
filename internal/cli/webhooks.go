package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"strings"

	"docket.dev/docket/internal/alert"
)

// webhookSource is where one kind of alert webhook may be given. A webhook URL is a
// secret, so besides the flag (which shows in ps) it may come from files (a mounted
// Kubernetes Secret) or an environment variable; no error shows the URL.
type webhookSource struct {
	flag, fileFlag, envName string
	format                  alert.Format
	urls, files             []string
}

// webhooks reads the URLs of every source: from their flags, their files (one URL a line;
// blank lines and lines starting with # are skipped) and their environment variables
// (URLs separated by spaces or newlines).
func webhooks(sources ...webhookSource) ([]alert.Webhook, error) {
	var out []alert.Webhook
	for _, src := range sources {
		add := func(where, raw string) error {
			if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("%s: %s is not an http or https URL", where, alert.Redact(raw))
			}
			out = append(out, alert.Webhook{URL: raw, Format: src.format})
			return nil
		}
		for _, raw := range src.urls {
			if err := add(src.flag, raw); err != nil {
				return nil, err
			}
		}
		for _, path := range src.files {
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", src.fileFlag, err)
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			for n := 1; sc.Scan(); n++ {
				line := strings.TrimSpace(sc.Text())
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if err := add(fmt.Sprintf("%s %s, line %d", src.fileFlag, path, n), line); err != nil {
					return nil, err
				}
			}
		}
		for _, raw := range strings.Fields(os.Getenv(src.envName)) {
			if err := add(src.envName, raw); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
