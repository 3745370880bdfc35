//go:build bench

package functions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/madbase/madbase/internal/functions/wasmtest"
	"github.com/madbase/madbase/internal/testutil/apitest"
	"github.com/madbase/madbase/internal/testutil/pgtest"
)

var (
	pg   *pgtest.Cluster
	echo []byte
)

func TestMain(m *testing.M) {
	var err error
	if echo, err = wasmtest.Build("echo"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(pgtest.Main(m, &pg, apitest.Setup))
}

// nativeEcho does what the echo function does, natively: read the body,
// gather the headers, answer the same JSON.
func nativeEcho(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	out, _ := json.Marshal(map[string]any{
		"method":         r.Method,
		"path":           r.URL.Path,
		"query":          r.URL.RawQuery,
		"content_type":   r.Header.Get("Content-Type"),
		"content_length": fmt.Sprint(r.ContentLength),
		"headers":        headers,
		"body":           string(body),
	})
	fmt.Fprintln(io.Discard, "echo: handled", r.Method, r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Function", "echo")
	_, _ = w.Write(out)
}

// withNonce returns wasm with a custom section holding nonce: the same code
// under a new digest, so neither MadBase's module cache nor wazero's
// compilation cache knows it.
func withNonce(wasm []byte, nonce string) []byte {
	payload := append([]byte{byte(len("nonce"))}, "nonce"...)
	payload = append(payload, nonce...)
	out := append(slices.Clip(wasm), 0)
	n := len(payload)
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			out = append(out, c)
			break
		}
		out = append(out, c|0x80)
	}
	return append(out, payload...)
}

type bench struct {
	env     *apitest.Env
	p       *apitest.Project
	mb      *httptest.Server
	native  *httptest.Server
	client  *http.Client
	dataDir string
}

func setup(t testing.TB) *bench {
	data := t.TempDir()
	e := apitest.New(t, pg, map[string]string{"MADBASE_LOG_LEVEL": "error", "MADBASE_DATA_DIR": data})
	b := &bench{env: e, p: e.CreateProject(t, "bench", nil), dataDir: data}
	b.mb = httptest.NewServer(e.Handler)
	b.native = httptest.NewServer(http.HandlerFunc(nativeEcho))
	b.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(func() { b.mb.Close(); b.native.Close() })
	return b
}

func (b *bench) deploy(t testing.TB, name string, wasm []byte) time.Duration {
	req, _ := http.NewRequest("PUT", b.mb.URL+"/admin/v1/projects/bench/functions/"+name, bytes.NewReader(wasm))
	req.Header.Set("Authorization", "Bearer "+apitest.AdminToken)
	req.Header.Set("Content-Type", "application/wasm")
	start := time.Now()
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("deploy: %d %s", res.StatusCode, body)
	}
	return time.Since(start)
}

// call sends one echo request to url (MadBase's function or the native
// handler) and checks the answer.
func (b *bench) call(t testing.TB, url string) time.Duration {
	req, _ := http.NewRequest("POST", url, strings.NewReader(`{"hello":"world"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-project-ref", "bench")
	req.Header.Set("Authorization", "Bearer "+b.p.AnonKey)
	start := time.Now()
	res, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	d := time.Since(start)
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`"body":"{\"hello\":\"world\"}"`)) {
		t.Fatalf("%s: %d %s", url, res.StatusCode, body)
	}
	return d
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// throughput runs workers clients against url for d and returns calls/s.
func (b *bench) throughput(t testing.TB, url string, workers int, d time.Duration) float64 {
	var n atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				b.call(t, url)
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// TestLatency prints cold and warm latency and throughput, MadBase vs native.
func TestLatency(t *testing.T) {
	b := setup(t)
	fn := b.mb.URL + "/functions/v1/echo"
	nat := b.native.URL + "/echo"

	// Cold: deploy a never-seen module (full compile), then its first call
	// (no memory-size hint yet); then the first call on a new node over the
	// same control plane, with and without wazero's on-disk cache.
	const colds = 3
	var deploys, firsts, seconds []time.Duration
	for i := range colds {
		name := fmt.Sprintf("cold%d", i)
		deploys = append(deploys, b.deploy(t, name, withNonce(echo, fmt.Sprint(time.Now().UnixNano()))))
		firsts = append(firsts, b.call(t, b.mb.URL+"/functions/v1/"+name))
		seconds = append(seconds, b.call(t, b.mb.URL+"/functions/v1/"+name))
	}
	node := func(cache string) time.Duration {
		data := t.TempDir()
		if cache != "" {
			os.MkdirAll(filepath.Join(data, "functions"), 0o755)
			os.Symlink(cache, filepath.Join(data, "functions", "cache"))
		}
		e2 := apitest.New(t, pg, map[string]string{"MADBASE_LOG_LEVEL": "error", "MADBASE_DATA_DIR": data, "MADBASE_DATABASE_URL": b.env.Config.DatabaseURL})
		srv := httptest.NewServer(e2.Handler)
		defer srv.Close()
		return b.call(t, srv.URL+"/functions/v1/cold0")
	}
	restartNoCache := node("")
	restartCache := node(filepath.Join(b.dataDir, "functions", "cache"))

	// Warm: sequential calls after a warm-up.
	b.deploy(t, "echo", echo)
	for range 20 {
		b.call(t, fn)
		b.call(t, nat)
	}
	const warm = 300
	var fnLat, natLat []time.Duration
	for range warm {
		fnLat = append(fnLat, b.call(t, fn))
		natLat = append(natLat, b.call(t, nat))
	}
	workers := 2 * runtime.GOMAXPROCS(0)
	fnRate := b.throughput(t, fn, workers, 3*time.Second)
	natRate := b.throughput(t, nat, workers, 3*time.Second)

	var sb strings.Builder
	fmt.Fprintf(&sb, "\nmodule %d bytes, GOMAXPROCS %d\n", len(echo), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&sb, "cold: deploy (compile+store) p50 %s; first call after deploy p50 %s; second call p50 %s\n", ms(pct(deploys, .5)), ms(pct(firsts, .5)), ms(pct(seconds, .5)))
	fmt.Fprintf(&sb, "cold: first call on a new node: %s without compilation cache, %s with it\n", ms(restartNoCache), ms(restartCache))
	fmt.Fprintf(&sb, "warm (%d sequential calls): MadBase p50 %s p99 %s | native p50 %s p99 %s | ratio p50 %.0fx\n", warm,
		ms(pct(fnLat, .5)), ms(pct(fnLat, .99)), ms(pct(natLat, .5)), ms(pct(natLat, .99)), float64(pct(fnLat, .5))/float64(pct(natLat, .5)))
	fmt.Fprintf(&sb, "throughput (%d clients, 3 s): MadBase %.0f/s | native %.0f/s | ratio %.1fx\n", workers, fnRate, natRate, natRate/fnRate)
	t.Log(sb.String())
}

func BenchmarkEchoFunction(b *testing.B) {
	x := setup(b)
	x.deploy(b, "echo", echo)
	url := x.mb.URL + "/functions/v1/echo"
	x.call(b, url)
	b.ResetTimer()
	for b.Loop() {
		x.call(b, url)
	}
}

func BenchmarkEchoNative(b *testing.B) {
	x := setup(b)
	url := x.native.URL + "/echo"
	for b.Loop() {
		x.call(b, url)
	}
}

func BenchmarkEchoFunctionParallel(b *testing.B) {
	x := setup(b)
	x.deploy(b, "echo", echo)
	url := x.mb.URL + "/functions/v1/echo"
	x.call(b, url)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			x.call(b, url)
		}
	})
}
