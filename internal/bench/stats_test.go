package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// latencies holds the durations of one kind of call. Each worker fills its own
// and merge joins them, so recording takes no lock.
type latencies []time.Duration

func (l *latencies) add(d time.Duration) { *l = append(*l, d) }

func (l latencies) merge(others ...latencies) latencies {
	out := slices.Clone(l)
	for _, o := range others {
		out = append(out, o...)
	}
	slices.Sort(out)
	return out
}

// quantile returns the q-quantile (nearest rank) of sorted durations.
func (l latencies) quantile(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	i := int(q*float64(len(l))+0.5) - 1
	return l[min(max(i, 0), len(l)-1)]
}

func (l latencies) mean() time.Duration {
	if len(l) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	return sum / time.Duration(len(l))
}

// line formats count, p50, p99 and mean of sorted durations.
func (l latencies) line() string {
	return fmt.Sprintf("p50 %8s  p99 %8s  mean %8s", ms(l.quantile(0.50)), ms(l.quantile(0.99)), ms(l.mean()))
}

// ms formats d in milliseconds with three decimals.
func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

// msf is d in milliseconds.
func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// workerFunc runs one unit of work (a flow, a health check, a Redis mix) for worker
// w, recording its latencies into rec.
type workerFunc[R any] func(ctx context.Context, w, i int, rec *R) error

// runFor runs f on workers goroutines until d has passed, each worker looping with
// its own i. It returns each worker's recordings, the number of units done and the
// elapsed time. The first error stops every worker and is returned.
func runFor[R any](ctx context.Context, workers int, d time.Duration, f workerFunc[R]) ([]R, int, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recs := make([]R, workers)
	counts := make([]int, workers)
	var (
		mu       sync.Mutex
		firstErr error
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				if err := f(ctx, w, i, &recs[w]); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("worker %d, unit %d: %w", w, i, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				counts[w]++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := 0
	for _, c := range counts {
		total += c
	}
	return recs, total, elapsed, firstErr
}

// perSecond is n over d.
func perSecond(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }
