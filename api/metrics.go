package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openabs/abs"
)

// The metrics GET /metrics serves, read from abs.Orchestrator.Stats at
// each scrape (so every replica reports the same shared state).
var (
	descImages = prometheus.NewDesc("openabs_images", "Managed images by their last recorded grade (\"none\": not graded yet).",
		[]string{"grade"}, nil)
	descNextDrop = prometheus.NewDesc("openabs_image_next_drop_days", "Days until the image's grade drops next (negative: overdue).",
		[]string{"image"}, nil)
	descCycles = prometheus.NewDesc("openabs_cycles", "Cycles (dry runs left out) by state.",
		[]string{"state"}, nil)
	descCycleDuration = prometheus.NewDesc("openabs_cycle_duration_seconds", "Planning time of the finished cycles (dry runs left out), by outcome.",
		[]string{"state"}, nil)
	descRebuilds = prometheus.NewDesc("openabs_rebuilds", "Rebuilds by state and method.",
		[]string{"state", "method"}, nil)
	descFeedLag = prometheus.NewDesc("openabs_feed_lag_seconds", "Now minus when the newest stored advisory was issued or updated.",
		nil, nil)
	descJobs = prometheus.NewDesc("openabs_jobs", "Queued and running jobs by kind and state.",
		[]string{"kind", "state"}, nil)
	descNotifications = prometheus.NewDesc("openabs_notifications", "Notifications by state.",
		[]string{"state"}, nil)
	descNotificationFailures = prometheus.NewDesc("openabs_notification_failures", "Notifications that could not be delivered (tried again in later cycles).",
		nil, nil)
	descUp = prometheus.NewDesc("openabs_stats_up", "1 when the stored state could be read for this scrape, else 0.",
		nil, nil)
)

// collector reads abs.Orchestrator.Stats at scrape time.
type collector struct {
	o       *abs.Orchestrator
	timeout time.Duration
	log     *slog.Logger
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descImages, descNextDrop, descCycles, descCycleDuration, descRebuilds, descFeedLag,
		descJobs, descNotifications, descNotificationFailures, descUp} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.o.Stats(ctx)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "metrics: cannot read stats", slog.String("error", err.Error()))
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	for _, g := range []string{"A", "B", "C", "D", "E", "F", ""} {
		label := g
		if g == "" {
			label = "none"
		}
		ch <- prometheus.MustNewConstMetric(descImages, prometheus.GaugeValue, float64(st.Grades[g]), label)
	}
	for img, at := range st.NextDrops {
		ch <- prometheus.MustNewConstMetric(descNextDrop, prometheus.GaugeValue, at.Sub(st.At).Hours()/24, img)
	}
	for _, cc := range st.Cycles {
		ch <- prometheus.MustNewConstMetric(descCycles, prometheus.GaugeValue, float64(cc.Count), string(cc.State))
		if cc.Finished > 0 {
			ch <- prometheus.MustNewConstSummary(descCycleDuration, uint64(cc.Finished), cc.Duration.Seconds(), nil, string(cc.State))
		}
	}
	for _, rc := range st.Rebuilds {
		ch <- prometheus.MustNewConstMetric(descRebuilds, prometheus.GaugeValue, float64(rc.Count), string(rc.State), string(rc.Method))
	}
	if !st.NewestAdvisory.IsZero() {
		ch <- prometheus.MustNewConstMetric(descFeedLag, prometheus.GaugeValue, st.At.Sub(st.NewestAdvisory).Seconds())
	}
	for _, j := range st.Jobs {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(j.Count), j.Kind, j.State)
	}
	for state, n := range st.Notifications {
		ch <- prometheus.MustNewConstMetric(descNotifications, prometheus.GaugeValue, float64(n), string(state))
	}
	ch <- prometheus.MustNewConstMetric(descNotificationFailures, prometheus.GaugeValue, float64(st.Notifications[abs.NotificationFailed]))
}

// newMetrics returns the /metrics handler over its own registry (nothing
// of the process's default registry leaks in).
func (s *server) newMetrics() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{o: s.o, timeout: 10 * time.Second, log: s.log})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
