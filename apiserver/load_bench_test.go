package apiserver_test

// A flood of Register, ResetPassword and Login calls from many clients
// (each request from another address, so per-client limits never bite)
// next to one other user's calls: their latency is measured with and
// without the flood, in one run. Run with `make bench` (see
// docs/benchmarks.md).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	codequestv1 "github.com/codequest-dev/codequest/api/proto/codequest/v1"
	"github.com/codequest-dev/codequest/apiserver"
	"github.com/codequest-dev/codequest/apiserver/apitest"
	"github.com/codequest-dev/codequest/apiserver/auth"
	"github.com/codequest-dev/codequest/apiserver/server"
)

func BenchmarkOtherUsersUnderAuthFlood(b *testing.B) {
	env := apitest.New(b, func(c *apiserver.Config) {
		c.HTTP.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.Auth = auth.DefaultConfig() // production limits
		c.HTTP.AuthConcurrency = server.DefaultConfig().AuthConcurrency
	})
	victim := env.NewUser(b, auth.RoleLearner)
	known := env.NewUser(b, auth.RoleLearner)
	vc := env.Clients(victim.Auth())
	getMe := func() time.Duration {
		start := time.Now()
		if _, err := vc.Users.GetMe(context.Background(), connect.NewRequest(&codequestv1.GetMeRequest{})); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	measure := func(b *testing.B) {
		for range 50 { // warm up
			getMe()
		}
		d := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			d = append(d, getMe())
		}
		b.StopTimer()
		b.ReportMetric(float64(apitest.Percentile(d, 0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(apitest.Percentile(d, 0.99).Microseconds())/1000, "p99-ms")
	}
	b.Run("load=none", measure)
	b.Run("load=auth-flood", func(b *testing.B) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var calls, refused atomic.Int64
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ctx.Err() == nil; n++ {
					// Every request from another client: a random /64 of
					// the documentation prefix.
					ip := fmt.Sprintf("2001:db8:%x:%x::1", rand.IntN(1<<16), rand.IntN(1<<16))
					c := env.Clients(apitest.Header("X-Forwarded-For", ip))
					var err error
					kind := (i + n) % 3
					if only := os.Getenv("FLOOD_ONLY"); only != "" {
						kind = int(only[0] - '0')
					}
					switch kind {
					case 0:
						_, err = c.Auth.Register(ctx, connect.NewRequest(&codequestv1.RegisterRequest{
							Email: apitest.UniqueEmail("flood"), Password: "Flood-pass-123", DisplayName: "F"}))
					case 1:
						_, err = c.Auth.ResetPassword(ctx, connect.NewRequest(&codequestv1.ResetPasswordRequest{
							Token: fmt.Sprintf("guess-%d", rand.Int64()), NewPassword: "Flood-pass-123"}))
					case 2:
						_, err = c.Auth.Login(ctx, connect.NewRequest(&codequestv1.LoginRequest{Email: known.Email, Password: "Wrong-pass-123"}))
					}
					calls.Add(1)
					if connect.CodeOf(err) == connect.CodeResourceExhausted {
						refused.Add(1)
					}
				}
			}()
		}
		time.Sleep(time.Second) // the flood is under way
		measure(b)
		cancel()
		wg.Wait()
		b.ReportMetric(float64(calls.Load()), "flood-calls")
		b.ReportMetric(float64(refused.Load()), "flood-refused")
	})
}
