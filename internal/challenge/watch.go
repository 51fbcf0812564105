package challenge

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Watch calls send with the verification's current state, then after every change,
// and returns nil once a terminal state has been sent. Watchers are woken by Redis
// pub/sub on each transition (sharded pub/sub on Cluster), never by polling; the
// only timer is the verification's own expiry, which it then makes durable.
func (s *Service) Watch(ctx context.Context, clientID, id string, send func(*Verification) error) error {
	if !validID(id) {
		return ErrNotFound
	}
	channel := recordKey(id) + ":w"
	var ps *redis.PubSub
	if s.cfg.ShardedPubSub {
		ps = s.rdb.SSubscribe(ctx, channel)
	} else {
		ps = s.rdb.Subscribe(ctx, channel)
	}
	defer ps.Close()
	// Subscribe before the first read, so no transition between the two is missed.
	if _, err := ps.Receive(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: subscribe: %w", ErrUnavailable, err)
	}
	// Subscription confirmations arrive again after a reconnect; each one re-reads
	// the record, so a transition published while disconnected is not lost.
	events := ps.ChannelWithSubscriptions()

	var last *Verification
	emit := func() (bool, error) {
		v, err := s.Get(ctx, clientID, id)
		if err != nil {
			return true, err
		}
		if last == nil || changed(last, v) {
			if err := send(v); err != nil {
				return true, err
			}
		}
		last = v
		return v.State.Terminal(), nil
	}
	if done, err := emit(); done || err != nil {
		return err
	}
	due := last.Expires
	expiry := time.NewTimer(max(0, due.Sub(s.now())))
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-events:
			if !ok {
				return fmt.Errorf("%w: subscription closed", ErrUnavailable)
			}
		case <-expiry.C:
			if _, err := s.store.run(ctx, expireScript, []string{recordKey(id)}, ms(s.now())); err != nil {
				return err
			}
			expiry.Reset(time.Second)
		}
		if done, err := emit(); done || err != nil {
			return err
		}
		if !last.Expires.Equal(due) {
			// The customer gave it more time (extend.go): wait for the new expiry,
			// not every second from the old one on.
			due = last.Expires
			expiry.Reset(max(0, due.Sub(s.now())))
		}
	}
}

func changed(a, b *Verification) bool {
	return a.State != b.State || a.Delivery != b.Delivery || a.AttemptsLeft != b.AttemptsLeft ||
		a.Revoked != b.Revoked || !a.Expires.Equal(b.Expires)
}
