package challenge

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// The breakers run on the embedded Redis-protocol server of dev mode (make run)
// too: a code entered is credited, a pumped prefix trips.
func TestBreakerOnEmbeddedRedis(t *testing.T) {
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	f := breakerFixture(t, rdb, nil, false, Breakers{})
	if refused := f.traffic("+44791110", 20, func(i int) bool { return i%10 < 7 }); refused != 0 {
		t.Fatalf("entered codes refused %d times", refused)
	}
	if refused := f.traffic("+44792220", 20, func(int) bool { return false }); refused == 0 {
		t.Fatal("a pumped prefix never tripped")
	}
}
