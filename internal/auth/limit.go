package auth

import (
	"sync"

	"golang.org/x/time/rate"
)

// Limiters hands out one rate limiter per key (a token's name, or a run's): each allows
// Every requests a second, in bursts of Burst.
type Limiters struct {
	Every rate.Limit
	Burst int

	mu    sync.Mutex
	byKey map[string]*rate.Limiter
}

// NewLimiters returns limiters allowing perSecond requests a second per key, in bursts of
// twice that.
func NewLimiters(perSecond float64) *Limiters {
	return &Limiters{Every: rate.Limit(perSecond), Burst: int(2 * perSecond), byKey: map[string]*rate.Limiter{}}
}

// maxIdleLimiters is how many limiters are kept before the idle ones are dropped.
const maxIdleLimiters = 10000

// Allow reports whether key may make a request now, and counts it when so.
func (l *Limiters) Allow(key string) bool {
	l.mu.Lock()
	lim, ok := l.byKey[key]
	if !ok {
		if len(l.byKey) >= maxIdleLimiters {
			// A full bucket has not been drawn on lately; a new one starts full, so
			// dropping it forgets nothing. (Run tokens make one limiter per run.)
			for k, old := range l.byKey {
				if old.Tokens() >= float64(l.Burst) {
					delete(l.byKey, k)
				}
			}
		}
		lim = rate.NewLimiter(l.Every, l.Burst)
		l.byKey[key] = lim
	}
	l.mu.Unlock()
	return lim.Allow()
}
