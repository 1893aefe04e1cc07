package server

import (
	"net/http"
	"net/url"
	"time"
)

// httpLimits bound what one connection may hold of the server: a client that sends its
// headers or body slowly, or keeps a connection open and idle, is cut off.
type httpLimits struct {
	// ReadHeader is how long a request's headers may take to arrive.
	ReadHeader time.Duration
	// Read is how long a whole request, body included, may take to arrive. net/http
	// clears it once the request is read, so an answer that streams for long (a
	// followed log) is not cut; there is no write timeout for the same reason.
	Read time.Duration
	// Idle is how long a kept-alive connection may wait for its next request.
	Idle time.Duration
	// MaxHeaderBytes caps a request's headers (431 beyond).
	MaxHeaderBytes int
}

// defaultHTTPLimits are the server's limits: a request body is at most 1 MiB, which a
// minute lets through at 17 KiB/s.
var defaultHTTPLimits = httpLimits{ReadHeader: 10 * time.Second, Read: time.Minute, Idle: 30 * time.Second, MaxHeaderBytes: 64 << 10}

// newHTTPServer serves h within limits.
func newHTTPServer(h http.Handler, limits httpLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: limits.ReadHeader,
		ReadTimeout:       limits.Read,
		IdleTimeout:       limits.Idle,
		MaxHeaderBytes:    limits.MaxHeaderBytes,
	}
}

// publicHosts are the names the API answers for besides IP addresses and localhost: the
// ones given, and the host of the URL runs reach the API at. A server with tokens and no
// names given answers for any (none are returned), as it did before names could be given:
// its API URL alone does not say by which names people reach it.
func publicHosts(cfg Config) []string {
	if len(cfg.PublicHosts) == 0 && (cfg.TokensFile != "" || cfg.Tokens != "") {
		return nil
	}
	hosts := append([]string(nil), cfg.PublicHosts...)
	if u, err := url.Parse(cfg.APIURL); err == nil && u.Hostname() != "" {
		hosts = append(hosts, u.Hostname())
	}
	return hosts
}
