package api

import (
	"fmt"
	"net"
	"net/http"
	"strings"
)

// front checks what every request must pass before its route: that it is addressed to a
// host this server answers for, and that a write does not come from another site's page.
//
// A server without tokens trusts whoever reaches it, which on loopback means this
// machine. A web page the user opens elsewhere must not count as this machine: by DNS
// rebinding its own name (attacker.example) comes to resolve to 127.0.0.1, and its script
// then reads and writes as if it were served here, with Host: attacker.example. So such a
// server answers only requests whose Host is an IP address (a page can address one only
// if it was loaded from it), localhost, or a name the operator gave (Options.Hosts); a
// server with tokens checks the Host only when names are given, since a page cannot add
// the token a request needs. A browser's write from another origin (a form or a fetch
// without preflight) is refused whatever the Host, by Sec-Fetch-Site or Origin.
func (a *API) front(w http.ResponseWriter, r *http.Request) bool {
	if (a.opts.Tokens == nil || len(a.opts.Hosts) > 0) && !a.hostAllowed(r.Host) {
		names := append([]string{"127.0.0.1", "[::1]", "localhost"}, a.opts.Hosts...)
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusMisdirectedRequest, code: "misdirected",
			msg: fmt.Sprintf("this server does not answer for the host %q (a page of another site may be trying to reach it); "+
				"it answers for %s and IP addresses; name others with docket server --public-host", r.Host, strings.Join(names, ", "))})
		return false
	}
	if err := a.crossOrigin.Check(r); err != nil {
		writeError(w, r, a.opts.Logger, &statusError{status: http.StatusForbidden, code: "cross_origin",
			msg: fmt.Sprintf("%s %s comes from a page of another site (Origin %q, Sec-Fetch-Site %q); writes are taken only from this server's own pages and from programs",
				r.Method, r.URL.Path, r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"))})
		return false
	}
	return true
}

// hostAllowed reports whether a Host header names this server: an IP address, localhost,
// or one of the names given, with any port.
func (a *API) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") {
		return true
	}
	for _, name := range a.opts.Hosts {
		if strings.EqualFold(host, name) {
			return true
		}
	}
	return false
}
