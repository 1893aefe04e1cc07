package awsbatch

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// capture is one request the real clients sent to a capture server (testdata).
type capture struct {
	marker  string
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func loadCaptures(t *testing.T) []capture {
	t.Helper()
	f, err := os.Open("testdata/sigv4-requests.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []capture
	marker := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			Marker string `json:"marker"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m.Marker != "" {
			marker = m.Marker
			continue
		}
		c := capture{marker: marker}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func (c capture) request(body string) *http.Request {
	r := httptest.NewRequest(c.Method, c.Path, strings.NewReader(body))
	for k, v := range c.Headers {
		if strings.EqualFold(k, "Host") {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	return r
}

func TestVerifyCapturedRequests(t *testing.T) {
	t.Parallel()
	lookup := func(id string) (string, bool) { return "x", id == "AKIDEXAMPLE" }
	checked := 0
	for _, c := range loadCaptures(t) {
		r := c.request(c.Body)
		if !signed(r) {
			continue
		}
		checked++
		now, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
		if err != nil {
			t.Fatalf("%s: %v", c.marker, err)
		}
		now = now.Add(14 * time.Minute)
		if id, err := verify(r, []byte(c.Body), now, lookup); err != nil || id != "AKIDEXAMPLE" {
			t.Errorf("%s: verify = %q, %v; want AKIDEXAMPLE", c.marker, id, err)
		}
		// One byte of the body changed.
		if len(c.Body) > 0 {
			b := []byte(c.Body)
			b[len(b)/2] ^= 1
			if _, err := verify(c.request(string(b)), b, now, lookup); !isType(err, "InvalidSignatureException") {
				t.Errorf("%s with a byte changed: err = %v; want InvalidSignatureException", c.marker, err)
			}
		}
		// Another Host than the one signed.
		r2 := c.request(c.Body)
		r2.Host = "127.0.0.1:9"
		if _, err := verify(r2, []byte(c.Body), now, lookup); !isType(err, "InvalidSignatureException") {
			t.Errorf("%s with another host: err = %v; want InvalidSignatureException", c.marker, err)
		}
		// Out of the clock window, a wrong secret, an unknown key.
		if _, err := verify(c.request(c.Body), []byte(c.Body), now.Add(2*time.Minute), lookup); !isType(err, "InvalidSignatureException") || !strings.Contains(err.Error(), "expired") {
			t.Errorf("%s 16 minutes late: err = %v; want an expired signature", c.marker, err)
		}
		wrong := func(string) (string, bool) { return "y", true }
		if _, err := verify(c.request(c.Body), []byte(c.Body), now, wrong); !isType(err, "InvalidSignatureException") {
			t.Errorf("%s with a wrong secret: err = %v", c.marker, err)
		}
		unknown := func(string) (string, bool) { return "", false }
		if _, err := verify(c.request(c.Body), []byte(c.Body), now, unknown); !isType(err, "UnrecognizedClientException") {
			t.Errorf("%s with an unknown key: err = %v", c.marker, err)
		}
	}
	if checked < 10 {
		t.Fatalf("checked %d signed captures; the testdata holds more", checked)
	}
}

func TestParseAuthorizationRefusesMalformed(t *testing.T) {
	t.Parallel()
	for _, h := range []string{
		"AWS4-HMAC-SHA256",
		"AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=00",
		"AWS4-HMAC-SHA256 Credential=K/20261130/us-east-1/batch/aws4_request, SignedHeaders=content-type, Signature=" + strings.Repeat("0", 64),
		"AWS4-HMAC-SHA256 Credential=K/20261130/us-east-1/batch/aws4_request, SignedHeaders=host, Signature=zz",
	} {
		if _, err := parseAuthorization(h); !isType(err, "IncompleteSignatureException") {
			t.Errorf("parseAuthorization(%q) = %v; want IncompleteSignatureException", h, err)
		}
	}
}

func isType(err error, typ string) bool {
	var ae *authError
	return errors.As(err, &ae) && ae.typ == typ
}
