package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id cost parameters. Memory is in KiB.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's recommended argon2id settings (m=19 MiB, t=2,
// p=1) with a 16-byte salt and a 32-byte hash.
func DefaultParams() Params {
	return Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
}

func (p Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("password: argon2 time %d out of range 1..%d", p.Time, maxTime)
	case p.Threads < 1:
		return errors.New("password: argon2 threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB:
		return fmt.Errorf("password: argon2 memory %d KiB out of range", p.Memory)
	case p.SaltLen < 8 || p.SaltLen > maxSaltLen:
		return fmt.Errorf("password: salt length %d out of range", p.SaltLen)
	case p.KeyLen < 16 || p.KeyLen > maxKeyLen:
		return fmt.Errorf("password: key length %d out of range", p.KeyLen)
	}
	return nil
}

// MaxLength is the longest password GoTrue accepts (bcrypt's input limit);
// callers reject longer ones with validation_failed to stay compatible even
// though argon2id itself has no such limit.
const MaxLength = 72

// maxBcryptCost bounds the work a stored bcrypt hash can demand; each step
// doubles the cost and Supabase writes cost 10.
const maxBcryptCost = 16

// Hasher hashes and verifies passwords with at most a fixed number of
// evaluations running at once. It is safe for concurrent use.
type Hasher struct {
	params Params
	slots  chan struct{}

	// onAcquire and onRelease, when set (tests only), run just after a
	// slot is taken and just before it is given back.
	onAcquire, onRelease func()
}

// NewHasher returns a Hasher using params for new hashes and allowing at
// most maxConcurrent evaluations at a time (runtime.NumCPU() when <= 0).
func NewHasher(params Params, maxConcurrent int) (*Hasher, error) {
	if err := params.validate(); err != nil {
		return nil, err
	}
	if maxConcurrent <= 0 {
		maxConcurrent = runtime.NumCPU()
	}
	return &Hasher{params: params, slots: make(chan struct{}, maxConcurrent)}, nil
}

// Params returns the parameters used for new hashes.
func (h *Hasher) Params() Params { return h.params }

// acquire blocks until an evaluation slot is free or ctx ends.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.slots <- struct{}{}:
		if h.onAcquire != nil {
			h.onAcquire()
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() {
	if h.onRelease != nil {
		h.onRelease()
	}
	<-h.slots
}

// Hash returns an argon2id PHC string for pw with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", fmt.Errorf("password: waiting for a hashing slot: %w", err)
	}
	defer h.release()
	key := idKey([]byte(pw), salt, h.params)
	return phc{variant: "argon2id", params: h.params, salt: salt, key: key}.String(), nil
}

// Verify reports whether pw matches the stored hash encoded (an argon2id or
// argon2i PHC string, or a $2a$/$2b$/$2y$ bcrypt hash). needsRehash is true
// when pw matched but encoded is not argon2id with the Hasher's current
// parameters, so the caller should store a fresh Hash. A mismatch is
// (false, false, nil); err is for unusable hashes and a ctx that ended
// while waiting for a slot.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (ok, needsRehash bool, err error) {
	if isBcrypt(encoded) {
		cost, err := bcrypt.Cost([]byte(encoded))
		if err != nil {
			return false, false, fmt.Errorf("password: bcrypt hash: %w", err)
		}
		if cost > maxBcryptCost {
			return false, false, fmt.Errorf("password: bcrypt cost %d above limit %d", cost, maxBcryptCost)
		}
		if err := h.acquire(ctx); err != nil {
			return false, false, fmt.Errorf("password: waiting for a hashing slot: %w", err)
		}
		defer h.release()
		err = bcrypt.CompareHashAndPassword([]byte(encoded), []byte(pw))
		switch {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
			return false, false, nil
		default:
			return false, false, fmt.Errorf("password: bcrypt: %w", err)
		}
	}
	p, err := parsePHC(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, fmt.Errorf("password: waiting for a hashing slot: %w", err)
	}
	defer h.release()
	var key []byte
	if p.variant == "argon2id" {
		key = idKey([]byte(pw), p.salt, p.params)
	} else {
		key = argon2.Key([]byte(pw), p.salt, p.params.Time, p.params.Memory, p.params.Threads, p.params.KeyLen)
	}
	if subtle.ConstantTimeCompare(key, p.key) != 1 {
		return false, false, nil
	}
	cur := h.params
	stale := p.variant != "argon2id" || p.params.Memory != cur.Memory || p.params.Time != cur.Time ||
		p.params.Threads != cur.Threads || p.params.KeyLen != cur.KeyLen || p.params.SaltLen < cur.SaltLen
	return true, stale, nil
}

// DummyVerify spends the same work as a failed Verify against a current
// argon2id hash, under the same concurrency bound, and always reports no
// match. Logins for unknown emails call it so they take as long as logins
// with a wrong password and cannot be used to discover accounts.
func (h *Hasher) DummyVerify(ctx context.Context) error {
	buf := make([]byte, 16+h.params.SaltLen+h.params.KeyLen)
	if _, err := rand.Read(buf); err != nil {
		return fmt.Errorf("password: dummy input: %w", err)
	}
	pw, salt, want := buf[:16], buf[16:16+h.params.SaltLen], buf[16+h.params.SaltLen:]
	if err := h.acquire(ctx); err != nil {
		return fmt.Errorf("password: waiting for a hashing slot: %w", err)
	}
	defer h.release()
	key := idKey(pw, salt, h.params)
	_ = subtle.ConstantTimeCompare(key, want)
	return nil
}

func idKey(pw, salt []byte, p Params) []byte {
	return argon2.IDKey(pw, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}
