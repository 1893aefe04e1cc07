package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"docket.dev/docket/internal/store"
)

// BenchmarkBlobBegin measures beginning uploads of one sender that no run names yet, as
// the files of an array are sent before its submission: each begin sums what the sender
// holds, so ns/op at -benchtime 10000x against 1000x shows how that grows with the
// uploads piled up.
func BenchmarkBlobBegin(b *testing.B) {
	onStores(b, "", benchmarkBlobBegin)
}

func benchmarkBlobBegin(b *testing.B, st store.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	for i := range b.N {
		up := store.Upload{SHA256: fmt.Sprintf("%064x", i), Owner: "ana", MaxHeld: 1 << 40}
		if _, err := st.BlobBegin(ctx, up, 1<<20, t0); err != nil {
			b.Fatal(err)
		}
	}
}
