package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"docket.dev/docket/internal/auth"
)

// tokensCheckInterval is how often the tokens file is looked at for changes.
const tokensCheckInterval = 10 * time.Second

// loadTokens reads the tokens file, or the tokens given directly. Without either the API is
// open to whoever can connect, which is refused unless the server listens on loopback only
// (or InsecureNoAuth).
func loadTokens(cfg Config) (*auth.Tokens, []byte, error) {
	if cfg.TokensFile == "" && cfg.Tokens != "" {
		tokens, err := auth.Parse([]byte(cfg.Tokens))
		if err != nil {
			return nil, nil, fmt.Errorf("DOCKET_TOKENS: %w", err)
		}
		return tokens, nil, nil
	}
	if cfg.TokensFile == "" {
		if !cfg.InsecureNoAuth && !loopback(cfg.Addr) {
			return nil, nil, fmt.Errorf("--addr %s serves other machines, and without --tokens-file (or DOCKET_TOKENS) anyone could change jobs; "+
				"give --tokens-file FILE (docket token new makes entries), or --insecure-no-auth to accept anyone", cfg.Addr)
		}
		return nil, nil, nil
	}
	data, err := os.ReadFile(cfg.TokensFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read tokens file: %w", err)
	}
	tokens, err := auth.Parse(data)
	return tokens, data, err
}

// loopback reports whether addr (host:port) listens on a loopback address only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reloadTokens re-reads the tokens file on SIGHUP and when its contents change (looked at
// every interval, which also catches a Kubernetes Secret mounted as a file), and makes
// tokens accept the new set. A changed file that does not parse is logged and ignored: the
// server keeps the tokens it had. last is the contents tokens were read from.
func reloadTokens(ctx context.Context, path string, last []byte, tokens *auth.Tokens, interval time.Duration, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var readErr string
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
		case <-tick.C:
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if err.Error() != readErr {
				log.Error("cannot read the tokens file; keeping the tokens read before", "file", path, "err", err)
			}
			readErr = err.Error()
			continue
		}
		readErr = ""
		if bytes.Equal(data, last) {
			continue
		}
		last = data
		next, err := auth.Parse(data)
		if err != nil {
			log.Error("the tokens file changed but is not valid; keeping the tokens read before", "file", path, "err", err)
			continue
		}
		tokens.Replace(next)
		log.Info("tokens file reloaded", "file", path, "tokens", next.Len())
	}
}
