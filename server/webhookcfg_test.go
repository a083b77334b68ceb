package server_test

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mtlsgate/mtlsgate/server"
)

// TestWebhooksConfig: the section reads from the file over the defaults,
// and each bound refuses a value out of range, naming the key.
func TestWebhooksConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "mtlsgate.yaml")
	if err := os.WriteFile(file, []byte("webhooks:\n  period: 30s\n  retry_max: 10m\n  keep_deliveries: 500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := server.LoadConfig(nil, envOf(map[string]string{"MTLSGATE_CONFIG": file}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Webhooks
	if !w.Enabled || w.Period != 30*time.Second || w.RetryMax != 10*time.Minute || w.KeepDeliveries != 500 || w.Timeout != 10*time.Second || w.MaxAttempts != 8 {
		t.Fatalf("webhooks %+v", w)
	}
	for _, tc := range []struct {
		name string
		edit func(*server.WebhooksConfig)
		want string
	}{
		{"period", func(w *server.WebhooksConfig) { w.Period = time.Millisecond }, "webhooks.period"},
		{"timeout", func(w *server.WebhooksConfig) { w.Timeout = 0 }, "webhooks.timeout"},
		{"retries", func(w *server.WebhooksConfig) { w.RetryMax = w.RetryMin / 2 }, "webhooks.retry_min"},
		{"attempts", func(w *server.WebhooksConfig) { w.MaxAttempts = 0 }, "webhooks.max_attempts"},
		{"log size", func(w *server.WebhooksConfig) { w.KeepDeliveries = 10 }, "webhooks.keep_deliveries"},
		{"log age", func(w *server.WebhooksConfig) { w.KeepFor = time.Minute }, "webhooks.keep_for"},
		{"settle", func(w *server.WebhooksConfig) { w.AuditSettle = 0 }, "webhooks.audit_settle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := loopbackConfig(t)
			tc.edit(&cfg.Webhooks)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want it to name %s", err, tc.want)
			}
		})
	}
}
