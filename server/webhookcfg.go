package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mtlsgate/mtlsgate/webhook"
)

// WebhooksConfig shapes the webhook dispatcher (docs/identities.md,
// "Notifications"): it runs on the elected replica only.
type WebhooksConfig struct {
	// Enabled runs the dispatcher (default true); off, webhooks can be
	// managed but nothing is sent.
	Enabled bool `yaml:"enabled"`
	// Period is how often new events are looked for (default 1m).
	Period time.Duration `yaml:"period"`
	// Timeout bounds one delivery attempt (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// RetryMin and RetryMax bound the backoff between attempts (default
	// 30s doubling up to 1h); MaxAttempts is the attempts of one delivery
	// (default 8).
	RetryMin    time.Duration `yaml:"retry_min"`
	RetryMax    time.Duration `yaml:"retry_max"`
	MaxAttempts int           `yaml:"max_attempts"`
	// KeepDeliveries and KeepFor bound the delivery log (default the
	// newest 10000, none older than 720h).
	KeepDeliveries int           `yaml:"keep_deliveries"`
	KeepFor        time.Duration `yaml:"keep_for"`
	// AuditSettle is how old an audit event must be before it becomes an
	// event (default 5s): writes still committing land first.
	AuditSettle time.Duration `yaml:"audit_settle"`
}

func defaultWebhooksConfig() WebhooksConfig {
	return WebhooksConfig{Enabled: true, Period: time.Minute, Timeout: 10 * time.Second, RetryMin: 30 * time.Second,
		RetryMax: time.Hour, MaxAttempts: 8, KeepDeliveries: 10000, KeepFor: 30 * 24 * time.Hour, AuditSettle: 5 * time.Second}
}

// validate checks the section.
func (w WebhooksConfig) validate() error {
	switch {
	case w.Period < 100*time.Millisecond || w.Period > time.Hour:
		return fmt.Errorf("config: webhooks.period: %s is not between 100ms and 1h", w.Period)
	case w.Timeout <= 0 || w.Timeout > 5*time.Minute:
		return fmt.Errorf("config: webhooks.timeout: %s is not between 0 and 5m", w.Timeout)
	case w.RetryMin <= 0 || w.RetryMax < w.RetryMin:
		return fmt.Errorf("config: webhooks.retry_min and retry_max: want 0 < %s <= %s", w.RetryMin, w.RetryMax)
	case w.MaxAttempts < 1 || w.MaxAttempts > 100:
		return fmt.Errorf("config: webhooks.max_attempts: %d is not between 1 and 100", w.MaxAttempts)
	case w.KeepDeliveries < 100 || w.KeepDeliveries > 1000000:
		return fmt.Errorf("config: webhooks.keep_deliveries: %d is not between 100 and 1000000", w.KeepDeliveries)
	case w.KeepFor < time.Hour:
		return fmt.Errorf("config: webhooks.keep_for: %s is less than 1h", w.KeepFor)
	case w.AuditSettle <= 0 || w.AuditSettle > time.Minute:
		return fmt.Errorf("config: webhooks.audit_settle: %s is not between 0 and 1m", w.AuditSettle)
	}
	return nil
}

// startWebhooks runs the dispatcher on workers, under the election (with
// bbolt this process always leads), until ctx ends.
func (s *Server) startWebhooks(ctx context.Context, workers *sync.WaitGroup) {
	c := s.cfg.Webhooks
	if !c.Enabled {
		return
	}
	d := webhook.New(webhook.Options{Store: s.store, Period: c.Period, Timeout: c.Timeout, RetryMin: c.RetryMin,
		RetryMax: c.RetryMax, MaxAttempts: c.MaxAttempts, KeepDeliveries: c.KeepDeliveries, KeepFor: c.KeepFor, AuditSettle: c.AuditSettle,
		Log: s.log.With("part", "webhooks"), Metrics: webhook.NewMetrics(s.metrics)})
	workers.Go(func() {
		s.store.Lead(ctx, "webhooks", d.Run)
		d.Close()
	})
}
