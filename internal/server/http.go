package server

import (
	"net/url"
)

// publicHosts are the names the API answers for besides IP addresses and localhost: the
// ones given, and the host of the URL runs reach the API at.
func publicHosts(cfg Config) []string {
	hosts := append([]string(nil), cfg.PublicHosts...)
	if u, err := url.Parse(cfg.APIURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	return hosts
}
