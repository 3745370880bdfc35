//go:build bench

package authbench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/password"
	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
)

var pg *pgtest.Cluster

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg, apitest.Setup)) }

const pw = "bench-password-1"

type fixture struct {
	env  *apitest.Env
	hdr  map[string]string
	user string
}

func setup(b *testing.B) *fixture {
	b.Helper()
	e := apitest.New(b, pg, map[string]string{"MADBASE_LOG_LEVEL": "error"})
	p := e.CreateProject(b, "bench", map[string]any{"auth": map[string]any{"autoconfirm": true,
		"rate_limit_token_refresh": -1, "rate_limit_otp": -1}})
	f := &fixture{env: e, user: "bench@example.com",
		hdr: map[string]string{"apikey": p.AnonKey, "Authorization": "Bearer " + p.AnonKey, "Host": "localhost"}}
	res, body := apitest.Do(e.Handler, "POST", "/auth/v1/signup", f.hdr, map[string]any{"email": f.user, "password": pw})
	if res.StatusCode != 200 {
		b.Fatalf("signup: %d %s", res.StatusCode, body)
	}
	return f
}

func (f *fixture) login(b *testing.B) string {
	res, body := apitest.Do(f.env.Handler, "POST", "/auth/v1/token?grant_type=password", f.hdr,
		map[string]any{"email": f.user, "password": pw})
	if res.StatusCode != 200 {
		b.Fatalf("login: %d %s", res.StatusCode, body)
	}
	var s struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(body, &s)
	return s.RefreshToken
}

func (f *fixture) refresh(b *testing.B, rt string) string {
	res, body := apitest.Do(f.env.Handler, "POST", "/auth/v1/token?grant_type=refresh_token", f.hdr,
		map[string]any{"refresh_token": rt})
	if res.StatusCode != 200 {
		b.Fatalf("refresh: %d %s", res.StatusCode, body)
	}
	var s struct {
		RefreshToken string `json:"refresh_token"`
	}
	_ = json.Unmarshal(body, &s)
	return s.RefreshToken
}

// rawRate is argon2id verifications per second with the server's hasher
// settings (OWASP parameters, one slot per CPU), at the given parallelism.
func rawRate(b *testing.B, parallel int) float64 {
	b.Helper()
	h, err := password.NewHasher(password.DefaultParams(), 0)
	if err != nil {
		b.Fatal(err)
	}
	enc, err := h.Hash(context.Background(), pw)
	if err != nil {
		b.Fatal(err)
	}
	const window = 2 * time.Second
	var n atomic.Int64
	deadline := time.Now().Add(window)
	done := make(chan struct{})
	for range parallel {
		go func() {
			defer func() { done <- struct{}{} }()
			for time.Now().Before(deadline) {
				if ok, _, err := h.Verify(context.Background(), pw, enc); !ok || err != nil {
					panic(fmt.Sprint("verify failed: ", err))
				}
				n.Add(1)
			}
		}()
	}
	for range parallel {
		<-done
	}
	return float64(n.Load()) / window.Seconds()
}

func report(b *testing.B, start time.Time, raw float64) {
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "ops/s")
	if raw > 0 {
		b.ReportMetric(raw, "rawhash/s")
		b.ReportMetric(rate/raw, "of-rawhash")
	}
}

// BenchmarkLoginSequential: one client, logins back to back (as GoTrue was
// measured: 20 sequential logins, ~95 ms each with bcrypt cost 10).
func BenchmarkLoginSequential(b *testing.B) {
	f := setup(b)
	raw := rawRate(b, 1)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		f.login(b)
	}
	report(b, start, raw)
}

// BenchmarkLoginParallel: logins from GOMAXPROCS clients at once; the
// hasher's slots bound how many hash at a time.
func BenchmarkLoginParallel(b *testing.B) {
	f := setup(b)
	raw := rawRate(b, 4)
	b.SetParallelism(2)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			f.login(b)
		}
	})
	report(b, start, raw)
}

// BenchmarkRefreshSequential: one session rotating its refresh token.
func BenchmarkRefreshSequential(b *testing.B) {
	f := setup(b)
	rt := f.login(b)
	raw := rawRate(b, 1)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		rt = f.refresh(b, rt)
	}
	report(b, start, raw)
}

// BenchmarkRefreshParallel: several sessions refreshing at once.
func BenchmarkRefreshParallel(b *testing.B) {
	f := setup(b)
	raw := rawRate(b, 4)
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		rt := f.login(b)
		for pb.Next() {
			rt = f.refresh(b, rt)
		}
	})
	report(b, start, raw)
}
