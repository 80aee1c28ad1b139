package lab

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/cloudrun-affinity/cloudrun-affinity/app/internal/telemetry"
)

// Result is what one run of the workload measured.
type Result struct {
	Mode      string  `json:"mode"`
	Instances int     `json:"instances"`
	Clients   int     `json:"clients"`
	Seconds   float64 `json:"seconds"`
	Killed    string  `json:"killed,omitempty"` // the instance sent SIGTERM half way, if any

	Requests       int `json:"requests"` // every workload request, failures included
	Errors         int `json:"errors"`   // transport errors and non-2xx answers
	ReportRequests int `json:"report_requests"`
	CacheHits      int `json:"cache_hits"`
	DistinctKeys   int `json:"distinct_keys"` // distinct (user, q) pairs requested
	// HitRate is CacheHits/ReportRequests; PhysicalLimit is the best any cache could do,
	// 1 - DistinctKeys/ReportRequests (every key misses once).
	HitRate       float64 `json:"hit_rate"`
	PhysicalLimit float64 `json:"physical_limit"`

	P50Ms    float64 `json:"p50_ms"`
	P95Ms    float64 `json:"p95_ms"`
	P99Ms    float64 `json:"p99_ms"`
	HitP50Ms float64 `json:"hit_p50_ms"` // the cost of a cache hit, end to end through the front

	InstanceMoves int `json:"instance_moves"` // a client's response came from another instance than its last
	WSConnects    int `json:"ws_connects"`
	WSReconnects  int `json:"ws_reconnects"`
	// WSSameInstance counts WebSocket hellos from the instance the client's HTTP requests
	// were last answered by.
	WSSameInstance int `json:"ws_same_instance"`

	CartItemsWritten int `json:"cart_items_written"` // adds the app acknowledged
	LostSessions     int `json:"lost_sessions"`
	LostCartItems    int `json:"lost_cart_items"`

	Regions     int `json:"regions"`
	RegionMoves int `json:"region_moves"` // a client's answer came from another region than its last
	Ejections   int `json:"ejections"`    // times the balancer took a region out of rotation
	// Fault is what happened half way ("kill i-0", "kill region r1", "restart redis r1 (rdb)");
	// FaultSeconds how long it lasted: until the instance stopped, the region was out of
	// rotation, or Redis answered again.
	Fault        string  `json:"fault,omitempty"`
	FaultSeconds float64 `json:"fault_seconds,omitempty"`
	// HitRateBefore and HitRateAfter are the cache hit rates of reports started before the
	// fault and after it.
	HitRateBefore float64 `json:"hit_rate_before_fault"`
	HitRateAfter  float64 `json:"hit_rate_after_fault"`
	// ErrorsDuringFault are failed requests that overlapped the fault (plus 0.5 s), the others
	// ErrorsOutsideFault; ErrorsWithoutReason failed without a JSON {"error": "..."} answer.
	ErrorsDuringFault   int `json:"errors_during_fault"`
	ErrorsOutsideFault  int `json:"errors_outside_fault"`
	ErrorsWithoutReason int `json:"errors_without_reason"`
	// ErrorStatuses counts failed requests by HTTP status (0: no answer).
	ErrorStatuses map[int]int `json:"error_statuses,omitempty"`
	// Observed is what the clients saw, in the terms of the app's instruments: every signed-in
	// request held or moved (the final read-back included), every report a hit or a miss, every
	// socket by where the client's previous one was. Instruments is what the instances' own
	// instruments counted (the totals each flushed as it stopped), summed; InstrumentsFrom is
	// how many instances' totals were read. The two agree when every instance stopped
	// gracefully and no request failed.
	Observed        telemetry.Figures `json:"observed"`
	Instruments     telemetry.Figures `json:"instruments"`
	InstrumentsFrom int               `json:"instruments_from"`
}

// InstrumentsAgree reports whether the instances' instruments counted exactly what the clients
// saw.
func (r Result) InstrumentsAgree() bool {
	return r.InstrumentsFrom == r.AllInstances() && r.Instruments == r.Observed
}

// AllInstances is how many instances the run started, in every region.
func (r Result) AllInstances() int { return r.Instances * max(r.Regions, 1) }

// percentileMs is the nearest-rank percentile in milliseconds; 0 for no samples.
func percentileMs(samples []time.Duration, p float64) float64 {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	rank = max(0, min(rank, len(s)-1))
	return float64(s[rank].Microseconds()) / 1000
}

// WriteTable prints the results side by side, one column per run.
func WriteTable(out io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, cell func(Result) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for _, r := range results {
			fmt.Fprintf(tw, "%s\t", cell(r))
		}
		fmt.Fprintln(tw)
	}
	pct := func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }
	ms := func(f float64) string { return fmt.Sprintf("%.1f ms", f) }
	row("", func(r Result) string {
		if r.Fault != "" {
			return r.Mode + " +" + r.Fault
		}
		return r.Mode
	})
	row("regions x instances x clients", func(r Result) string {
		return fmt.Sprintf("%d x %d x %d", max(1, r.Regions), r.Instances, r.Clients)
	})
	row("seconds", func(r Result) string { return fmt.Sprintf("%.1f", r.Seconds) })
	row("requests", func(r Result) string { return fmt.Sprint(r.Requests) })
	row("errors", func(r Result) string { return fmt.Sprint(r.Errors) })
	row("cache hit rate", func(r Result) string { return pct(r.HitRate) })
	row("physical limit", func(r Result) string { return pct(r.PhysicalLimit) })
	row("latency p50", func(r Result) string { return ms(r.P50Ms) })
	row("latency p95", func(r Result) string { return ms(r.P95Ms) })
	row("latency p99", func(r Result) string { return ms(r.P99Ms) })
	row("cache-hit p50", func(r Result) string { return ms(r.HitP50Ms) })
	row("instance moves", func(r Result) string { return fmt.Sprint(r.InstanceMoves) })
	row("region moves", func(r Result) string { return fmt.Sprint(r.RegionMoves) })
	row("region ejections", func(r Result) string { return fmt.Sprint(r.Ejections) })
	faulty := func(cell func(Result) string) func(Result) string {
		return func(r Result) string {
			if r.Fault == "" {
				return "-"
			}
			return cell(r)
		}
	}
	row("fault lasted", faulty(func(r Result) string { return fmt.Sprintf("%.2f s", r.FaultSeconds) }))
	row("hit rate before / after fault", faulty(func(r Result) string {
		return pct(r.HitRateBefore) + " / " + pct(r.HitRateAfter)
	}))
	row("errors during / outside fault", faulty(func(r Result) string {
		return fmt.Sprintf("%d / %d", r.ErrorsDuringFault, r.ErrorsOutsideFault)
	}))
	row("errors without a reason", func(r Result) string { return fmt.Sprint(r.ErrorsWithoutReason) })
	row("ws reconnects", func(r Result) string { return fmt.Sprint(r.WSReconnects) })
	row("ws on client's instance", func(r Result) string { return fmt.Sprintf("%d/%d", r.WSSameInstance, r.WSConnects) })
	row("cart items written", func(r Result) string { return fmt.Sprint(r.CartItemsWritten) })
	row("lost sessions", func(r Result) string { return fmt.Sprint(r.LostSessions) })
	row("lost cart items", func(r Result) string { return fmt.Sprint(r.LostCartItems) })
	// The same story from the app's own instruments, as production's dashboard tells it.
	row("instruments: hit rate", func(r Result) string {
		f := r.Instruments
		if f.CacheHits+f.CacheMisses == 0 {
			return "-"
		}
		return pct(float64(f.CacheHits) / float64(f.CacheHits+f.CacheMisses))
	})
	row("instruments: held / moved", func(r Result) string { return fmt.Sprintf("%d / %d", r.Instruments.Held, r.Instruments.Moved) })
	row("instruments: ws new/same/other", func(r Result) string {
		f := r.Instruments
		return fmt.Sprintf("%d/%d/%d", f.SocketsNone, f.SocketsSame, f.SocketsOther)
	})
	row("instruments = observed", func(r Result) string {
		if r.InstrumentsAgree() {
			return "yes"
		}
		return fmt.Sprintf("no (%d of %d instances)", r.InstrumentsFrom, r.AllInstances())
	})
	return tw.Flush()
}
