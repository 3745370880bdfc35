package password

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// cheap keeps tests fast; production uses DefaultParams.
func cheap() Params { return Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32} }

func newHasher(t *testing.T, p Params, n int) *Hasher {
	t.Helper()
	h, err := NewHasher(p, n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := newHasher(t, cheap(), 0)
	ctx := t.Context()
	enc, err := h.Hash(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=256,t=1,p=1$") {
		t.Fatalf("unexpected PHC string %q", enc)
	}
	if enc2, _ := h.Hash(ctx, "correct horse"); enc2 == enc {
		t.Fatal("two hashes of one password are equal: salt is not random")
	}
	ok, rehash, err := h.Verify(ctx, "correct horse", enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(right) = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
	ok, rehash, err = h.Verify(ctx, "correct horsf", enc)
	if err != nil || ok || rehash {
		t.Fatalf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
	}
}

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	if p.Memory != 19456 || p.Time != 2 || p.Threads != 1 {
		t.Fatalf("DefaultParams = %+v, want OWASP m=19456 t=2 p=1", p)
	}
	if err := p.validate(); err != nil {
		t.Fatal(err)
	}
}

// A hash made with other parameters still verifies but asks to be replaced.
func TestVerifyOldParamsNeedsRehash(t *testing.T) {
	old := newHasher(t, cheap(), 1)
	enc, err := old.Hash(t.Context(), "pw123456")
	if err != nil {
		t.Fatal(err)
	}
	p := cheap()
	p.Time = 2
	cur := newHasher(t, p, 1)
	ok, rehash, err := cur.Verify(t.Context(), "pw123456", enc)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

// The reference implementation's published vector (phc-winner-argon2,
// password "password", salt "somesalt", t=2, m=64 MiB, p=1).
func TestVerifyReferenceVector(t *testing.T) {
	const ref = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	h := newHasher(t, cheap(), 1)
	ok, rehash, err := h.Verify(t.Context(), "password", ref)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(ref) = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
	ok, _, err = h.Verify(t.Context(), "passwore", ref)
	if err != nil || ok {
		t.Fatalf("Verify(ref, wrong) = %v, %v; want false, nil", ok, err)
	}
	p, err := parsePHC(ref)
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != ref {
		t.Fatalf("re-encoding gives %q, want %q", p.String(), ref)
	}
}

// argon2i hashes (some exporters write them) verify and ask for an upgrade.
func TestVerifyArgon2i(t *testing.T) {
	h := newHasher(t, cheap(), 1)
	salt := []byte("0123456789abcdef")
	p := cheap()
	key := argon2.Key([]byte("pw-i"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	enc := phc{variant: "argon2i", params: p, salt: salt, key: key}.String()
	ok, rehash, err := h.Verify(t.Context(), "pw-i", enc)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify = %v, %v, %v; want true, true, nil", ok, rehash, err)
	}
}

func TestVerifyBcrypt(t *testing.T) {
	h := newHasher(t, cheap(), 1)
	b, err := bcrypt.GenerateFromPassword([]byte("imported-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		enc := prefix + string(b[4:])
		ok, rehash, err := h.Verify(t.Context(), "imported-pw", enc)
		if err != nil || !ok || !rehash {
			t.Fatalf("%s: Verify(right) = %v, %v, %v; want true, true, nil", prefix, ok, rehash, err)
		}
		ok, rehash, err = h.Verify(t.Context(), "imported-px", enc)
		if err != nil || ok || rehash {
			t.Fatalf("%s: Verify(wrong) = %v, %v, %v; want false, false, nil", prefix, ok, rehash, err)
		}
	}
	// A cost that would take hours is refused rather than computed.
	huge := "$2a$31$" + string(b[7:])
	if _, _, err := h.Verify(t.Context(), "imported-pw", huge); err == nil {
		t.Fatal("bcrypt cost 31 accepted")
	}
}

func TestVerifyRejectsGarbage(t *testing.T) {
	h := newHasher(t, cheap(), 1)
	for _, enc := range []string{
		"", "plain", "$argon2d$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1,p=1,keyid=x$c2FsdHNhbHRzYWx0c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$AAAAAAAAAAAAAAAAAAAAAA",
	} {
		if ok, _, err := h.Verify(t.Context(), "x", enc); err == nil || ok {
			t.Errorf("Verify(%q) = %v, %v; want an error", enc, ok, err)
		}
	}
}

func TestNewHasherRejectsBadParams(t *testing.T) {
	bad := cheap()
	bad.Time = 0
	if _, err := NewHasher(bad, 1); err == nil {
		t.Fatal("t=0 accepted")
	}
	bad = cheap()
	bad.SaltLen = 4
	if _, err := NewHasher(bad, 1); err == nil {
		t.Fatal("4-byte salt accepted")
	}
}

// With a bound of 2, nine concurrent callers never have more than two
// evaluations in flight, and all of them finish.
func TestHasherBoundsConcurrency(t *testing.T) {
	h := newHasher(t, cheap(), 2)
	enc, err := h.Hash(t.Context(), "pw")
	if err != nil {
		t.Fatal(err)
	}
	var cur, peak atomic.Int32
	h.onAcquire = func() {
		n := cur.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(5 * time.Millisecond) // widen the window so any overlap shows
	}
	h.onRelease = func() { cur.Add(-1) }
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 9 {
		wg.Go(func() {
			var err error
			switch i % 3 {
			case 0:
				_, err = h.Hash(t.Context(), "pw")
			case 1:
				_, _, err = h.Verify(t.Context(), "pw", enc)
			default:
				err = h.DummyVerify(t.Context())
			}
			if err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d calls failed", n)
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrency %d, want exactly 2 (bound 2, 9 callers)", p)
	}
}

// A caller waiting for a slot gives up when its context ends.
func TestHasherWaitRespectsContext(t *testing.T) {
	h := newHasher(t, cheap(), 1)
	h.slots <- struct{}{} // occupy the only slot
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Hash(ctx, "pw")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash err = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Hash waited %v after its deadline", d)
	}
	b, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Verify(ctx, "pw", string(b)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("Verify with ended ctx succeeded")
	}
	if err := h.DummyVerify(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("DummyVerify err = %v, want DeadlineExceeded", err)
	}
	<-h.slots
	if _, err := h.Hash(t.Context(), "pw"); err != nil {
		t.Fatalf("Hash after slot freed: %v", err)
	}
}

// DummyVerify must cost what a wrong-password Verify costs, so an unknown
// email cannot be told from a known one by response time.
func TestDummyVerifyTiming(t *testing.T) {
	p := Params{Memory: 8 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	h := newHasher(t, p, 1)
	enc, err := h.Hash(t.Context(), "the-password")
	if err != nil {
		t.Fatal(err)
	}
	// The cores are shared with other test binaries, so one round can be
	// skewed by a burst of load; a real cost difference (a dummy that skips
	// the hash is ~1000x cheaper) fails every round.
	var ratio float64
	for attempt := range 3 {
		var mw, md time.Duration
		ratio, mw, md = timingRound(t, h, enc)
		t.Logf("round %d: wrong-password verify %v, dummy verify %v, ratio %.2f", attempt, mw, md, ratio)
		if ratio >= 0.5 && ratio <= 2 {
			return
		}
	}
	t.Fatalf("DummyVerify/Verify time ratio %.2f outside 0.5..2 in all rounds", ratio)
}

// timingRound interleaves wrong-password verifies and dummy verifies so
// drift in machine load hits both, and compares the means of each side's
// faster half (the slower runs are the ones another process interrupted).
func timingRound(t *testing.T, h *Hasher, enc string) (ratio float64, wrong, dummy time.Duration) {
	t.Helper()
	ctx := t.Context()
	const runs = 16
	ws := make([]time.Duration, 0, runs)
	ds := make([]time.Duration, 0, runs)
	for i := range runs + 2 {
		s := time.Now()
		if ok, _, err := h.Verify(ctx, "not-the-password", enc); ok || err != nil {
			t.Fatalf("Verify(wrong) = %v, %v", ok, err)
		}
		w := time.Since(s)
		s = time.Now()
		if err := h.DummyVerify(ctx); err != nil {
			t.Fatal(err)
		}
		d := time.Since(s)
		if i >= 2 { // the first runs warm the allocator
			ws, ds = append(ws, w), append(ds, d)
		}
	}
	wrong, dummy = fastHalfMean(ws), fastHalfMean(ds)
	return float64(dummy) / float64(wrong), wrong, dummy
}

func fastHalfMean(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	s = s[:len(s)/2]
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return sum / time.Duration(len(s))
}
