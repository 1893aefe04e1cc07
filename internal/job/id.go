package job

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// idClock keeps ids from one process strictly increasing, even when many are made in the
// same millisecond (the scheduler records a burst of slots at once): RFC 9562's method 1,
// a 12-bit counter in rand_a that starts at a random value each new millisecond.
var idClock struct {
	sync.Mutex
	ms  uint64
	seq uint64
}

// NewRunID returns a new run id: a version 7 UUID, whose leading 48 bits are the creation
// time in milliseconds, so ids sort by creation time and a list can page by id. Ids made by
// one process are strictly increasing. The id is lowercase and DNS-safe, so names derived
// from it (a Kubernetes Job's) are too.
func NewRunID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms, seq := nextIDClock(uint64(now.UnixMilli()), uint64(binary.BigEndian.Uint16(b[6:8]))&0x3ff)
	binary.BigEndian.PutUint64(b[0:8], ms<<16|0x7000|seq)
	b[8] = 0x80 | b[8]&0x3f // RFC 9562 variant
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// nextIDClock returns the millisecond and counter for the next id: ms with a fresh counter
// when time moved on, else the last millisecond with the counter advanced (and the
// millisecond borrowed from the future when the counter is spent).
func nextIDClock(ms, fresh uint64) (uint64, uint64) {
	idClock.Lock()
	defer idClock.Unlock()
	switch {
	case ms > idClock.ms:
		idClock.ms, idClock.seq = ms, fresh
	case idClock.seq < 0xfff:
		idClock.seq++
	default:
		idClock.ms, idClock.seq = idClock.ms+1, 0
	}
	return idClock.ms, idClock.seq
}

// RunIDFloor returns the least id a run made at t or later can have: ids begin with their
// creation time in milliseconds, so a window of time is a range of ids (and of an index
// over them).
func RunIDFloor(t time.Time) string {
	h := hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli())<<16))[:12]
	return h[0:8] + "-" + h[8:12] + "-0000-0000-000000000000"
}
