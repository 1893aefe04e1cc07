package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// runTokenPrefix starts every run token, so one is told from an API token at a glance.
const runTokenPrefix = "docket-run."

// RunTokens signs and checks the tokens runs report about themselves with. A run token is
// "docket-run.RUN_ID.MAC", MAC an HMAC-SHA256 of the run id under a key every server
// sharing the store holds alike; it lets its run, and nothing else, report. Nothing is
// stored per run, and a token outlives no key.
type RunTokens struct{ key []byte }

// NewRunTokens returns the signer for key (at least 32 bytes of randomness).
func NewRunTokens(key []byte) *RunTokens { return &RunTokens{key: key} }

// For returns the token of a run.
func (k *RunTokens) For(runID string) string {
	return runTokenPrefix + runID + "." + k.mac(runID)
}

// Check returns the run a token was made for, when it is a run token signed with this key.
func (k *RunTokens) Check(token string) (runID string, ok bool) {
	rest, ok := strings.CutPrefix(token, runTokenPrefix)
	if !ok {
		return "", false
	}
	runID, mac, ok := strings.Cut(rest, ".")
	if !ok || runID == "" || !hmac.Equal([]byte(mac), []byte(k.mac(runID))) {
		return "", false
	}
	return runID, true
}

func (k *RunTokens) mac(runID string) string {
	h := hmac.New(sha256.New, k.key)
	h.Write([]byte("run:" + runID))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// IsRunToken says whether a token looks like a run token (whether or not it is valid).
func IsRunToken(token string) bool { return strings.HasPrefix(token, runTokenPrefix) }
