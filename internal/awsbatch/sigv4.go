package awsbatch

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"docket.dev/docket/internal/job"
)

// sigWindow is how far a request's X-Amz-Date may be from the server's clock.
const sigWindow = 15 * time.Minute

// services are the signing names this face answers for.
var services = map[string]bool{"batch": true, "logs": true}

// signature is what the Authorization header of a SigV4 request says.
type signature struct {
	keyID, date, region, service string
	signed                       []string
	sig                          []byte
}

// authError is a refused signature: the AWS error type and the sentence saying why.
type authError struct {
	status int
	typ    string
	msg    string
}

func (e *authError) Error() string { return e.msg }

func refuse(typ, format string, args ...any) error {
	return &authError{status: http.StatusForbidden, typ: typ, msg: fmt.Sprintf(format, args...)}
}

// signed reports whether the request carries a SigV4 Authorization header.
func signed(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256")
}

// parseAuthorization reads `AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request,
// SignedHeaders=a;b, Signature=HEX`.
func parseAuthorization(h string) (signature, error) {
	var s signature
	rest, ok := strings.CutPrefix(h, "AWS4-HMAC-SHA256")
	if !ok {
		return s, refuse("IncompleteSignatureException", "the Authorization header is not AWS4-HMAC-SHA256 (SigV4)")
	}
	var cred, headers, sig string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			headers = v
		case "Signature":
			sig = v
		}
	}
	if cred == "" || headers == "" || sig == "" {
		return s, refuse("IncompleteSignatureException", "the Authorization header needs Credential, SignedHeaders and Signature")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" {
		return s, refuse("IncompleteSignatureException", "the credential %q is not ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request", job.Truncate(cred, 200))
	}
	s.keyID, s.date, s.region, s.service = scope[0], scope[1], scope[2], scope[3]
	s.signed = strings.Split(headers, ";")
	if !slices.Contains(s.signed, "host") {
		return s, refuse("IncompleteSignatureException", "SignedHeaders must include host")
	}
	raw, err := hex.DecodeString(sig)
	if err != nil || len(raw) != sha256.Size {
		return s, refuse("IncompleteSignatureException", "the signature is not 64 hex digits")
	}
	s.sig = raw
	return s, nil
}

// verify checks a SigV4 request against the secret of its access key, which lookup
// returns (false for a key the server does not know). body is the raw body the signature
// hashes. It returns the access key id the request was signed with.
func verify(r *http.Request, body []byte, now time.Time, lookup func(keyID string) (secret string, ok bool)) (string, error) {
	s, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return "", err
	}
	if !services[s.service] {
		return "", refuse("InvalidSignatureException", "the credential's service is %q; this server signs batch and logs", job.Truncate(s.service, 40))
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil {
		return "", refuse("IncompleteSignatureException", "X-Amz-Date %q is not a time like 20261130T150526Z", job.Truncate(amzDate, 40))
	}
	if !strings.HasPrefix(amzDate, s.date) || len(s.date) != 8 {
		return "", refuse("InvalidSignatureException", "the credential's date %q is not the day of X-Amz-Date %s", job.Truncate(s.date, 40), amzDate)
	}
	if d := now.Sub(t); d > sigWindow || d < -sigWindow {
		return "", refuse("InvalidSignatureException", "Signature expired: X-Amz-Date %s is more than 15 minutes from the server's time %s", amzDate, now.UTC().Format("20060102T150405Z"))
	}
	secret, ok := lookup(s.keyID)
	if !ok {
		return "", refuse("UnrecognizedClientException", "The security token included in the request is invalid: access key %q is not one this server knows", job.Truncate(s.keyID, 128))
	}
	want := sign(secret, s, stringToSign(r, body, s, amzDate))
	if !hmac.Equal(want, s.sig) {
		return "", refuse("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return s.keyID, nil
}

// stringToSign builds the canonical request and the string SigV4 signs from it.
func stringToSign(r *http.Request, body []byte, s signature, amzDate string) string {
	var c strings.Builder
	c.WriteString(r.Method + "\n" + canonicalPath(r) + "\n" + r.URL.RawQuery + "\n")
	for _, name := range s.signed {
		var v string
		if name == "host" {
			v = r.Host
		} else {
			v = strings.Join(r.Header.Values(name), ",")
		}
		c.WriteString(name + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	bodySum := sha256.Sum256(body)
	c.WriteString("\n" + strings.Join(s.signed, ";") + "\n" + hex.EncodeToString(bodySum[:]))
	reqSum := sha256.Sum256([]byte(c.String()))
	return "AWS4-HMAC-SHA256\n" + amzDate + "\n" + s.date + "/" + s.region + "/" + s.service + "/aws4_request\n" + hex.EncodeToString(reqSum[:])
}

// canonicalPath is the request's path as the client encoded it.
func canonicalPath(r *http.Request) string {
	if p := r.URL.EscapedPath(); p != "" {
		return p
	}
	return "/"
}

// sign derives the signing key (AWS4+secret, date, region, service, aws4_request) and
// signs toSign with it.
func sign(secret string, s signature, toSign string) []byte {
	key := mac([]byte("AWS4"+secret), s.date)
	key = mac(key, s.region)
	key = mac(key, s.service)
	key = mac(key, "aws4_request")
	return mac(key, toSign)
}

func mac(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}
