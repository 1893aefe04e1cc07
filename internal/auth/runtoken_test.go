package auth

import "testing"

func TestRunTokens(t *testing.T) {
	t.Parallel()
	k := NewRunTokens([]byte("0123456789abcdef0123456789abcdef"))
	tok := k.For("01a2073f-79be-726b-9098-25187cd4fffb")
	if id, ok := k.Check(tok); !ok || id != "01a2073f-79be-726b-9098-25187cd4fffb" {
		t.Errorf("Check(own token) = %q, %v", id, ok)
	}
	other := NewRunTokens([]byte("another key, another server group"))
	for name, bad := range map[string]string{
		"another key":       other.For("01a2073f-79be-726b-9098-25187cd4fffb"),
		"another run's mac": "docket-run.01a2073f-79be-726b-9098-25187cd4ffff." + tok[len(tok)-43:],
		"no mac":            "docket-run.01a2073f-79be-726b-9098-25187cd4fffb",
		"an api token":      "dkt_abcdef",
		"empty run":         "docket-run..x",
		"a truncated mac":   tok[:len(tok)-1],
	} {
		if id, ok := k.Check(bad); ok {
			t.Errorf("%s: Check(%q) = %q, accepted", name, bad, id)
		}
	}
	if !IsRunToken(tok) || IsRunToken("dkt_abc") {
		t.Error("IsRunToken")
	}
}
