package serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hecc-dev/hecc/ir"
)

// LoadConfig is a load test: Clients concurrent clients sending
// pre-encrypted inputs for Duration, at most MaxRequests in all.
type LoadConfig struct {
	Server      string
	Model       string
	KeysDir     string
	Clients     int
	Duration    time.Duration
	MaxRequests int
	Inputs      []*ir.Tensor // encrypted once each, sent round robin
	// SampleEvery is how often the server's resident memory is read from
	// its /metrics.
	SampleEvery time.Duration
	Progress    func(stage string, d time.Duration)
}

// LoadReport is what a load test measured.
type LoadReport struct {
	Server     string         `json:"server"`
	Model      string         `json:"model"`
	Clients    int            `json:"clients"`
	Seconds    float64        `json:"seconds"`
	Requests   int            `json:"requests"` // answered with a result
	Statuses   map[string]int `json:"statuses"` // every answer, by status (or "error")
	Throughput float64        `json:"requests_per_second"`
	P50        float64        `json:"p50_seconds"`
	P99        float64        `json:"p99_seconds"`
	Max        float64        `json:"max_seconds"`
	Decrypted  int            `json:"decrypted"` // results decrypted as a check
	RSS        []RSSSample    `json:"server_rss"`
}

// RSSSample is the server's resident memory at a time into the test.
type RSSSample struct {
	Seconds float64 `json:"seconds"`
	Bytes   float64 `json:"bytes"`
}

// ErrNotLoopback refuses a load test against another machine: it floods
// its target.
var ErrNotLoopback = errors.New("a load test targets this machine only (a loopback address)")

func checkLoopback(server string) error {
	u, err := url.Parse(server)
	if err != nil {
		return err
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return fmt.Errorf("%w: cannot resolve %s: %v", ErrNotLoopback, u.Hostname(), err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%w: %s is %s", ErrNotLoopback, u.Hostname(), ip)
		}
	}
	return nil
}

// LoadTest runs a load test and reports it.
func LoadTest(ctx context.Context, cfg LoadConfig) (*LoadReport, error) {
	if cfg.Clients < 1 || cfg.Duration <= 0 || cfg.MaxRequests < 1 || len(cfg.Inputs) == 0 {
		return nil, errors.New("a load test needs at least one client, input and request, and a duration")
	}
	if err := checkLoopback(cfg.Server); err != nil {
		return nil, err
	}
	if cfg.SampleEvery <= 0 {
		cfg.SampleEvery = time.Second
	}
	c, err := NewClient(cfg.Server)
	if err != nil {
		return nil, err
	}
	// Every client of the test shares one key set: the server's cache holds
	// it once, as it would for one user's many requests.
	s, err := Open(ctx, c, cfg.Model, cfg.KeysDir, cfg.Progress)
	if err != nil {
		return nil, err
	}
	var inputs [][]byte
	for _, t := range cfg.Inputs {
		b, err := s.Encrypt(t)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, b)
	}
	s.Progress = nil // the clients' decryptions below are not stages
	rep := &LoadReport{Server: cfg.Server, Model: cfg.Model, Clients: cfg.Clients, Statuses: map[string]int{}}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()

	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(cfg.SampleEvery)
		defer tick.Stop()
		for {
			if b, err := serverRSS(c); err == nil {
				rep.RSS = append(rep.RSS, RSSSample{time.Since(start).Seconds(), b})
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	var mu sync.Mutex
	var latencies []float64
	sent := 0
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			checked := false
			for n := i; ; n += cfg.Clients {
				mu.Lock()
				if sent >= cfg.MaxRequests || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				sent++
				mu.Unlock()
				t0 := time.Now()
				res, err := c.Infer(ctx, cfg.Model, s.KeyID, inputs[n%len(inputs)])
				d := time.Since(t0).Seconds()
				if ctx.Err() != nil {
					return // cut off by the end of the test: not an answer
				}
				status := "200"
				var apiErr *APIError
				switch {
				case errors.As(err, &apiErr):
					status = strconv.Itoa(apiErr.Status)
				case err != nil:
					status = "error"
				}
				// The first result of each client is decrypted, to check the
				// answers are real ones; decrypting them all would take
				// cores from the server under test.
				decrypted := false
				if err == nil && !checked {
					checked = true
					if _, err := s.Decrypt(res); err != nil {
						status = "undecryptable"
					} else {
						decrypted = true
					}
				}
				mu.Lock()
				rep.Statuses[status]++
				if status == "200" {
					latencies = append(latencies, d)
				}
				if decrypted {
					rep.Decrypted++
				}
				mu.Unlock()
				if apiErr != nil && apiErr.RetryAfter > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(apiErr.RetryAfter):
					}
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	<-sampled
	rep.Seconds = time.Since(start).Seconds()
	rep.Requests = len(latencies)
	rep.Throughput = float64(rep.Requests) / rep.Seconds
	slices.Sort(latencies)
	rep.P50, rep.P99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
	if len(latencies) > 0 {
		rep.Max = latencies[len(latencies)-1]
	}
	return rep, nil
}

// quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[min(len(sorted)-1, int(math.Ceil(q*float64(len(sorted))))-1)]
}

// serverRSS reads process_resident_memory_bytes from the server's metrics.
func serverRSS(c *Client) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, "/metrics", nil, 0, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "process_resident_memory_bytes "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("the server's metrics have no process_resident_memory_bytes")
}

// Markdown is the report as a markdown table, with the RSS samples.
func (r *LoadReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| model | clients | seconds | results | req/s | p50 s | p99 s | max s | statuses | server RSS max |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|\n")
	peak := 0.0
	for _, s := range r.RSS {
		peak = max(peak, s.Bytes)
	}
	keys := make([]string, 0, len(r.Statuses))
	for k := range r.Statuses {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var st []string
	for _, k := range keys {
		st = append(st, fmt.Sprintf("%s×%d", k, r.Statuses[k]))
	}
	fmt.Fprintf(&b, "| %s | %d | %.1f | %d | %.2f | %.3f | %.3f | %.3f | %s | %.0f MiB |\n",
		r.Model, r.Clients, r.Seconds, r.Requests, r.Throughput, r.P50, r.P99, r.Max, strings.Join(st, " "), peak/(1<<20))
	if len(r.RSS) > 0 {
		b.WriteString("\nserver RSS over time (s: MiB):")
		step := max(1, len(r.RSS)/12)
		for i := 0; i < len(r.RSS); i += step {
			fmt.Fprintf(&b, " %.0f: %.0f", r.RSS[i].Seconds, r.RSS[i].Bytes/(1<<20))
		}
		b.WriteString("\n")
	}
	return b.String()
}
