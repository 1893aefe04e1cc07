package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPublicHosts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		hosts  []string
		apiURL string
		want   []string
	}{
		{nil, "", nil},
		{[]string{"docket.example.com"}, "", []string{"docket.example.com"}},
		{nil, "http://host.containers.internal:8080", []string{"host.containers.internal"}},
		{[]string{"a.example"}, "http://docket.docket.svc:8080/", []string{"a.example", "docket.docket.svc"}},
	} {
		got := publicHosts(Config{PublicHosts: tt.hosts, APIURL: tt.apiURL})
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("publicHosts(%v, %q) (-want +got):\n%s", tt.hosts, tt.apiURL, diff)
		}
	}
}
