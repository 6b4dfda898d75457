package serve

import (
	"github.com/hecc-dev/hecc/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus series, in a registry of its own so
// that several servers (tests) can live in one process.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec   // route, code
	bytesIn     *prometheus.CounterVec   // route
	bytesOut    *prometheus.CounterVec   // route
	latency     *prometheus.HistogramVec // model: a whole inference request
	evaluation  *prometheus.HistogramVec // model: runtime.Server.Run alone
	queueDepth  prometheus.Gauge
	running     prometheus.Gauge
	cacheBytes  prometheus.Gauge
	cacheSets   prometheus.Gauge
	cacheHits   prometheus.Counter
	cacheMisses prometheus.Counter
	abandoned   *prometheus.CounterVec // stage (queued, running), reason (canceled, deadline)
}

func newMetrics() *metrics {
	// Evaluations take from tens of milliseconds (small circuits) to
	// minutes (deep ones at logN 16).
	buckets := prometheus.ExponentialBuckets(0.01, 2, 16)
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hecc_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hecc_http_request_bytes_total", Help: "Request body bytes read, by route.",
		}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hecc_http_response_bytes_total", Help: "Response body bytes written, by route.",
		}, []string{"route"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hecc_inference_request_seconds", Help: "Inference requests answered with a result, from arrival to answer, by model.", Buckets: buckets,
		}, []string{"model"}),
		evaluation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hecc_evaluation_seconds", Help: "Time evaluating the circuit, by model.", Buckets: buckets,
		}, []string{"model"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hecc_queue_depth", Help: "Inference jobs waiting for a worker.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hecc_evaluations_running", Help: "Evaluations running now.",
		}),
		cacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hecc_key_cache_bytes", Help: "Memory of the parsed key sets in the cache: their keys, without the prepared circuits they share.",
		}),
		cacheSets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hecc_key_cache_sets", Help: "Parsed key sets in the cache.",
		}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hecc_key_cache_hits_total", Help: "Key set look-ups answered from the cache.",
		}),
		cacheMisses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hecc_key_cache_misses_total", Help: "Key set look-ups that parsed the stored key file.",
		}),
		abandoned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hecc_inferences_abandoned_total", Help: "Inference jobs whose client left or whose deadline passed: dropped while queued, or stopped while running.",
		}, []string{"stage", "reason"}),
	}
	m.registry.MustRegister(m.requests, m.bytesIn, m.bytesOut, m.latency, m.evaluation, m.queueDepth, m.running,
		m.cacheBytes, m.cacheSets, m.cacheHits, m.cacheMisses, m.abandoned,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	return m
}

// watchPrepared adds the memory of m's prepared circuit, read at each
// scrape: its encoded weights, the values of those its evaluations encode
// (hecc serve --max-weights-gib), and the buffers its evaluations borrow
// (as much as the most evaluations that ran at once took).
func (m *metrics) watchPrepared(model *Model) {
	for part, bytes := range map[string]func(runtime.Memory) int64{
		"encoded":   func(mem runtime.Memory) int64 { return mem.Encoded },
		"buffers":   func(mem runtime.Memory) int64 { return mem.Buffers },
		"on_demand": func(mem runtime.Memory) int64 { return mem.OnDemand },
	} {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "hecc_prepared_circuit_bytes",
			Help:        "Memory of a model's prepared circuit, shared by every key set: its encoded weights, the values of those encoded on demand, and its evaluation buffers.",
			ConstLabels: prometheus.Labels{"model": model.Name, "part": part},
		}, func() float64 { return float64(bytes(model.Prepared.Memory())) }))
	}
}
