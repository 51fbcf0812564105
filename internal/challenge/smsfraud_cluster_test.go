package challenge

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authsvc/authsvc/internal/audit"
	"github.com/authsvc/authsvc/internal/delivery"
	"github.com/authsvc/authsvc/internal/redistest"
)

// The SMS defences on Cluster, where every script may touch only its own slot:
// number types, monitor mode, the safe list and the risk hook's SIM swap (the trip
// itself is in TestBreakerTripsOnPumpingNotOnSpike).
func TestSMSDefencesOnCluster(t *testing.T) {
	rdb := redistest.StartCluster(t, 3).Client(t)

	t.Run("number types", func(t *testing.T) {
		f := breakerFixture(t, rdb, nil, true, Breakers{})
		_, err := f.smsTo("+19005550100")
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Violations[0].Description != numberTypeCannotReceive {
			t.Fatalf("premium: %v", err)
		}
		if _, err := f.smsTo("+18005550100"); !errors.As(err, &ve) {
			t.Fatalf("toll-free: %v", err)
		}
	})
	t.Run("monitor", func(t *testing.T) {
		f := breakerFixture(t, rdb, nil, true, Breakers{Mode: BreakerMonitor})
		if refused := f.traffic("+44794440", 40, func(int) bool { return false }); refused != 0 {
			t.Fatalf("monitor mode refused %d sends", refused)
		}
		if got := counterValue(f.svc.metrics.sms.breakers.WithLabelValues("44", "monitored")); got < 30 {
			t.Errorf("monitored %v sends", got)
		}
		var monitored bool
		for _, m := range breakerEvents(t, rdb, true, audit.BreakerTripped) {
			monitored = monitored || m.Values["o"] == "monitor" && m.Values["d"] == maskPrefix("+44794440", 44)
		}
		if !monitored {
			t.Fatal("no monitored trip in the audit trail")
		}
	})
	t.Run("safe list", func(t *testing.T) {
		f := breakerFixture(t, rdb, nil, true, Breakers{SafeList: []string{"+44795550"}})
		// After the monitor subtest's hour on the same Redis: the client's cell is
		// ahead of a fresh fixture's clock.
		f.clock.Advance(2 * time.Hour)
		if refused := f.traffic("+44795550", 40, func(int) bool { return false }); refused != 0 {
			t.Fatalf("a safe prefix was refused %d times", refused)
		}
	})
	t.Run("sim swap", func(t *testing.T) {
		hook, _ := riskServer(t, 0, `{"sim_swap":{"last_sim_swap":"2026-11-27T12:00:00Z"}}`)
		h, err := delivery.NewRiskHook(delivery.RiskHookConfig{URL: hook.URL, Secret: riskSecret})
		if err != nil {
			t.Fatal(err)
		}
		f := newFactorFixtureOn(t, nil, rdb, Config{ShardedPubSub: true}, WithRiskHook(h, RiskPolicy{}))
		f.enrollTOTP("cust-swap", newSeed(t))
		f.clock.Advance(time.Second)
		req := f.startReq(OTPSMS, phone)
		req.Methods, req.CustomerID = []Method{OTPSMS, TOTP}, "cust-swap"
		res, err := f.svc.Start(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		v := res.Verification
		if v.SMSRefused != RiskSIMSwap || v.DeliveredMethod != 0 || !slices.Contains(v.Methods, TOTP) || f.sentCount(v.ID) != 0 {
			t.Fatalf("SIM-swapped: %+v", v)
		}
		tag := v.ID[:tagLen]
		var reason any
		for _, m := range auditEntries(t, rdb, audit.StreamKey(tag, true)) {
			if m.Values["v"] == v.ID && m.Values["k"] == audit.Started {
				reason = m.Values["r"]
			}
		}
		if reason != "sms_refused:sim_swap" {
			t.Fatalf("started event's reason %v", reason)
		}
	})
}
