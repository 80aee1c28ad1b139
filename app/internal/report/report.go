// Package report is the "slow backend" of the dashboard story: a computation that takes a
// fixed time and whose result depends only on (user, query), so caching it is safe.
package report

import (
	"context"
	"hash/fnv"
	"time"
)

// Result is a small dashboard: a score and a series derived from (user, query).
type Result struct {
	User   string `json:"user"`
	Q      string `json:"q"`
	Score  int    `json:"score"`
	Series []int  `json:"series"`
}

// Backend computes results, taking Delay for each.
type Backend struct{ Delay time.Duration }

// Compute waits Delay (or until ctx ends) and returns the result for (user, q).
func (b Backend) Compute(ctx context.Context, user, q string) (Result, error) {
	if b.Delay > 0 {
		t := time.NewTimer(b.Delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-t.C:
		}
	}
	h := fnv.New64a()
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(q))
	seed := h.Sum64()
	series := make([]int, 8)
	for i := range series {
		seed = seed*6364136223846793005 + 1442695040888963407 // LCG step: deterministic, cheap
		series[i] = int(seed >> 57)                           // 0..127
	}
	return Result{User: user, Q: q, Score: int(seed % 1000), Series: series}, nil
}
