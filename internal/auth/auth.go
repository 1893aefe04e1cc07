// Package auth is who may do what through Docket's API: API tokens, each with a name and a
// role, kept as SHA-256 hashes in a tokens file, so the file gives nobody a usable token.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// Role is what a token may do. Roles are ordered: each may do what the ones below it may.
type Role int

const (
	// Runner submits runs of the jobs its token names, and reads those jobs and their
	// runs, and nothing else: a CI system's webhook. It is below every other role.
	Runner Role = iota + 1
	// Viewer reads jobs, runs, events and logs.
	Viewer
	// Editor also applies jobs, starts, cancels, suspends and resumes them.
	Editor
	// Admin also deletes jobs.
	Admin
)

var roleNames = map[Role]string{Runner: "runner", Viewer: "viewer", Editor: "editor", Admin: "admin"}

func (r Role) String() string { return roleNames[r] }

// ParseRole reads a role's name.
func ParseRole(s string) (Role, error) {
	for r, name := range roleNames {
		if name == s {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%q is not a role; use runner, viewer, editor or admin", s)
}

// TeamLabel is the job label that names the team a job belongs to.
const TeamLabel = "team"

// Token is an API token as the server knows it: a name (who acts), a role, and the teams
// whose jobs it may change (none: every job).
type Token struct {
	Name  string
	Role  Role
	Teams []string
	// Jobs are the jobs a runner token may run and read.
	Jobs []string
}

// MayRun reports whether a runner token names the job.
func (t Token) MayRun(name string) bool { return t.Role == Runner && slices.Contains(t.Jobs, name) }

// CheckTeam says what is wrong with a team name, which must be a label value.
func CheckTeam(team string) error {
	if errs := validation.IsValidLabelValue(team); team == "" || len(errs) > 0 {
		return fmt.Errorf("%q is not a team label value (letters, digits, '-', '_', '.'; at most 63)", team)
	}
	return nil
}

// MayChange reports whether the token may change the jobs of team ("" for a job with no
// team label).
func (t Token) MayChange(team string) bool {
	return len(t.Teams) == 0 || (team != "" && slices.Contains(t.Teams, team))
}

// Tokens are the tokens a server accepts. They may be replaced while the server serves
// (Replace), so a changed tokens file takes effect without a restart.
type Tokens struct {
	byHash atomic.Pointer[map[[sha256.Size]byte]Token]
	// byKey holds the AWS access keys (SigV4 needs the secret itself, see AWSKey).
	byKey atomic.Pointer[map[string]AWSKey]
}

// AWSKey is an AWS access key pair that acts as a token, for the AWS Batch face. SigV4 is
// symmetric: the server computes each request's signature itself, so it must hold the
// secret, not a hash of it; a tokens file with AWS keys is as secret as the keys.
type AWSKey struct {
	Token
	ID     string
	Secret string
}

// file is the tokens file's shape.
type file struct {
	Tokens []struct {
		Name   string   `json:"name"`
		Role   string   `json:"role"`
		SHA256 string   `json:"sha256"`
		Teams  []string `json:"teams"`
		Jobs   []string `json:"jobs"`
		// AWSAccessKeyID and AWSSecretAccessKey are an AWS key pair acting as the token
		// (the AWS Batch face); an entry may have them instead of sha256.
		AWSAccessKeyID     string `json:"aws_access_key_id"`
		AWSSecretAccessKey string `json:"aws_secret_access_key"`
	} `json:"tokens"`
}

// Parse reads a tokens file (YAML or JSON):
//
//	tokens:
//	  - name: ana
//	    role: editor
//	    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	    teams: [data-science]   # optional: changes only jobs labelled team: data-science
//	  - name: ci
//	    role: runner
//	    sha256: ...
//	    jobs: [nightly-pipeline] # a runner submits and reads runs of these jobs only
//	  - name: ana-aws           # an AWS key pair for the AWS Batch face (SigV4)
//	    role: editor
//	    aws_access_key_id: AKDK...
//	    aws_secret_access_key: ...
//
// Errors name the entry and field that is wrong.
func Parse(data []byte) (*Tokens, error) {
	var f file
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("tokens file: %w", err)
	}
	if len(f.Tokens) == 0 {
		return nil, fmt.Errorf("tokens file: tokens: is empty; add at least one token (docket token new --name NAME --role ROLE)")
	}
	byHash := map[[sha256.Size]byte]Token{}
	byKey := map[string]AWSKey{}
	names := map[string]bool{}
	for i, e := range f.Tokens {
		where := fmt.Sprintf("tokens file: tokens[%d]", i)
		if e.Name == "" {
			return nil, fmt.Errorf("%s.name: is required", where)
		}
		if names[e.Name] {
			return nil, fmt.Errorf("%s.name: %q is used twice", where, e.Name)
		}
		names[e.Name] = true
		role, err := ParseRole(e.Role)
		if err != nil {
			return nil, fmt.Errorf("%s.role: %w", where, err)
		}
		for j, team := range e.Teams {
			if err := CheckTeam(team); err != nil {
				return nil, fmt.Errorf("%s.teams[%d]: %w", where, j, err)
			}
		}
		switch {
		case role == Runner && len(e.Jobs) == 0:
			return nil, fmt.Errorf("%s.jobs: a runner token names the jobs it may run (docket token new --role runner --job NAME)", where)
		case role != Runner && len(e.Jobs) > 0:
			return nil, fmt.Errorf("%s.jobs: only a runner token is limited to jobs; a %s token reaches every job", where, role)
		}
		for j, name := range e.Jobs {
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
				return nil, fmt.Errorf("%s.jobs[%d]: %q is not a job name", where, j, name)
			}
		}
		tok := Token{Name: e.Name, Role: role, Teams: e.Teams, Jobs: e.Jobs}
		if e.AWSAccessKeyID != "" || e.AWSSecretAccessKey != "" {
			switch {
			case role == Runner:
				return nil, fmt.Errorf("%s.aws_access_key_id: a runner token posts to Docket's own API; an AWS key pair is a viewer, editor or admin", where)
			case !validKeyID(e.AWSAccessKeyID):
				return nil, fmt.Errorf("%s.aws_access_key_id: must be 16 to 128 letters and digits (docket token new --aws makes one)", where)
			case len(e.AWSSecretAccessKey) < 20 || len(e.AWSSecretAccessKey) > 128:
				return nil, fmt.Errorf("%s.aws_secret_access_key: must be 20 to 128 characters (docket token new --aws makes one)", where)
			case byKey[e.AWSAccessKeyID].ID != "":
				return nil, fmt.Errorf("%s.aws_access_key_id: %q is used twice", where, e.AWSAccessKeyID)
			}
			byKey[e.AWSAccessKeyID] = AWSKey{Token: tok, ID: e.AWSAccessKeyID, Secret: e.AWSSecretAccessKey}
			if e.SHA256 == "" {
				continue
			}
		}
		raw, err := hex.DecodeString(e.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("%s.sha256: must be the 64 hex digits of the token's SHA-256 (docket token hash)", where)
		}
		if other, dup := byHash[[sha256.Size]byte(raw)]; dup {
			return nil, fmt.Errorf("%s.sha256: is the token of %q too; one token is one entry, with one role", where, other.Name)
		}
		byHash[[sha256.Size]byte(raw)] = tok
	}
	t := &Tokens{}
	t.byHash.Store(&byHash)
	t.byKey.Store(&byKey)
	return t, nil
}

// Lookup returns the token whose secret this is.
func (t *Tokens) Lookup(secret string) (Token, bool) {
	tok, ok := (*t.byHash.Load())[sha256.Sum256([]byte(secret))]
	return tok, ok
}

// LookupAWS returns the AWS key pair with this access key id.
func (t *Tokens) LookupAWS(id string) (AWSKey, bool) {
	m := t.byKey.Load()
	if m == nil {
		return AWSKey{}, false
	}
	k, ok := (*m)[id]
	return k, ok
}

// Len is how many tokens there are (AWS key pairs included).
func (t *Tokens) Len() int {
	n := len(*t.byHash.Load())
	if m := t.byKey.Load(); m != nil {
		n += len(*m)
	}
	return n
}

// Replace makes t accept next's tokens, and only those, from now on.
func (t *Tokens) Replace(next *Tokens) {
	t.byHash.Store(next.byHash.Load())
	t.byKey.Store(next.byKey.Load())
}

// validKeyID reports whether id looks like an access key id: 16 to 128 letters and digits.
func validKeyID(id string) bool {
	if len(id) < 16 || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// NewAWSKey returns a new random AWS key pair: an access key id of 20 upper-case letters
// and digits beginning AKDK (80 random bits), and a 40-character secret (240 bits).
func NewAWSKey() (id, secret string, err error) {
	var b [40]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	id = "AKDK" + base32.StdEncoding.EncodeToString(b[:10])
	secret = base64.StdEncoding.EncodeToString(b[10:])
	return id, secret, nil
}

// Hash returns the hex SHA-256 of a token, as the tokens file keeps it.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// New returns a new random token (256 bits).
func New() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "dkt_" + strings.TrimRight(base64.URLEncoding.EncodeToString(b[:]), "="), nil
}
