package server

import (
	"context"
	"net/http"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/kaquan/kaquan"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on their own registry.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(e *kaquan.Engine) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kaquan_requests_total",
			Help: "API requests by operation and outcome (ok, or the typed error's reason)."}, []string{"operation", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kaquan_request_seconds",
			Help: "API request latency by operation.", Buckets: prometheus.ExponentialBuckets(0.0002, 2, 16)}, []string{"operation"}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(m.requests, m.latency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		counter("kaquan_commits_total", "Group commits (commit log records, one fdatasync each with durability sync).",
			func() float64 { return float64(e.Stats().Writer.Batches) }),
		counter("kaquan_commit_writes_total", "Writes committed (an actor step each); divided by commits: the group-commit batch size.",
			func() float64 { return float64(e.Stats().Writer.Writes) }),
		counter("kaquan_commit_entries_total", "Records committed.",
			func() float64 { return float64(e.Stats().Writer.Entries) }),
		counter("kaquan_commit_seconds_total", "Time spent committing, fdatasync included; divided by commits: the commit time.",
			func() float64 { return time.Duration(e.Stats().Writer.CommitNanos).Seconds() }),
		counter("kaquan_applies_total", "Badger transactions of the applier, which moves committed batches from the commit log into Badger.",
			func() float64 { return float64(e.Stats().Writer.Applies) }),
		counter("kaquan_apply_seconds_total", "Time spent in the applier's Badger transactions.",
			func() float64 { return time.Duration(e.Stats().Writer.ApplyNanos).Seconds() }),
		gauge("kaquan_apply_lag_batches", "Committed batches not yet in Badger (reads find them in memory; scans wait for them).",
			func() float64 { return float64(e.Stats().Writer.ApplyLag) }),
		gauge("kaquan_apply_lag_entries", "Committed records not yet in Badger; the writer waits while more than 65,536 lag.",
			func() float64 { return float64(e.Stats().Writer.ApplyLagEntries) }),
		counter("kaquan_deliveries_total", "Messages entities received: calls, the messages entities send each other, and their replies.",
			func() float64 { return float64(e.Stats().Deliveries) }),
		counter("kaquan_activations_total", "Entities loaded into memory (each reads its state from the store).",
			func() float64 { return float64(e.Stats().Activations) }),
		counter("kaquan_store_reads_total", "Point reads that went to Badger (not answered from committed writes still in memory).",
			func() float64 { return float64(e.Stats().StoreReads) }),
		gauge("kaquan_active_entities", "Entities (accounts, templates, cards, payments, pools) in memory.",
			func() float64 { return float64(e.Stats().ActiveEntities) }),
		gauge("kaquan_calls_in_flight", "Calls under way: the work queued in the entities' mailboxes.",
			func() float64 { return float64(e.Stats().CallsInFlight) }),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) interceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			res, err := next(ctx, req)
			op := req.Spec().Procedure[strings.LastIndexByte(req.Spec().Procedure, '/')+1:]
			m.requests.WithLabelValues(op, reasonOf(err)).Inc()
			m.latency.WithLabelValues(op).Observe(time.Since(start).Seconds())
			return res, err
		}
	}
}
