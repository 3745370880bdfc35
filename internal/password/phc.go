package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrUnknownFormat is returned for a stored hash that is neither an argon2
// PHC string nor a bcrypt hash.
var ErrUnknownFormat = errors.New("password: unrecognised hash format")

// Limits on parameters read from stored hashes. Hashes can arrive from
// outside (admin import of password_hash), so a hostile one must not make
// a single verify allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	maxSaltLen   = 256
	maxKeyLen    = 256
)

// phc is a parsed argon2 PHC string.
type phc struct {
	variant string // "argon2id" or "argon2i"
	params  Params
	salt    []byte
	key     []byte
}

var b64 = base64.RawStdEncoding

func (p phc) String() string {
	return fmt.Sprintf("$%s$v=19$m=%d,t=%d,p=%d$%s$%s", p.variant,
		p.params.Memory, p.params.Time, p.params.Threads,
		b64.EncodeToString(p.salt), b64.EncodeToString(p.key))
}

// parsePHC parses "$argon2id$v=19$m=M,t=T,p=P$salt$hash" (also argon2i).
// The version segment is optional, as in the reference encoder's oldest
// output; extra parameters such as keyid or data are rejected because we
// could not honour them.
func parsePHC(s string) (phc, error) {
	var out phc
	parts := strings.Split(s, "$")
	if len(parts) < 5 || parts[0] != "" {
		return out, ErrUnknownFormat
	}
	out.variant = parts[1]
	if out.variant != "argon2id" && out.variant != "argon2i" {
		return out, ErrUnknownFormat
	}
	rest := parts[2:]
	if strings.HasPrefix(rest[0], "v=") {
		if rest[0] != "v=19" {
			return out, fmt.Errorf("password: unsupported argon2 version %q", rest[0])
		}
		rest = rest[1:]
	}
	if len(rest) != 3 {
		return out, ErrUnknownFormat
	}
	seen := 0
	for _, kv := range strings.Split(rest[0], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return out, fmt.Errorf("password: malformed argon2 parameter %q", kv)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return out, fmt.Errorf("password: argon2 parameter %s: %w", k, err)
		}
		bit := map[string]int{"m": 1, "t": 2, "p": 4}[k]
		if seen&bit != 0 {
			return out, fmt.Errorf("password: repeated argon2 parameter %q", k)
		}
		switch k {
		case "m":
			out.params.Memory = uint32(n)
			seen |= 1
		case "t":
			out.params.Time = uint32(n)
			seen |= 2
		case "p":
			if n > 255 {
				return out, fmt.Errorf("password: argon2 parallelism %d out of range", n)
			}
			out.params.Threads = uint8(n)
			seen |= 4
		default:
			return out, fmt.Errorf("password: unsupported argon2 parameter %q", k)
		}
	}
	if seen != 7 {
		return out, fmt.Errorf("password: argon2 parameters incomplete in %q", rest[0])
	}
	p := out.params
	if p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemoryKiB {
		return out, fmt.Errorf("password: argon2 parameters m=%d,t=%d,p=%d out of range", p.Memory, p.Time, p.Threads)
	}
	var err error
	if out.salt, err = b64.DecodeString(rest[1]); err != nil {
		return out, fmt.Errorf("password: argon2 salt: %w", err)
	}
	if out.key, err = b64.DecodeString(rest[2]); err != nil {
		return out, fmt.Errorf("password: argon2 hash: %w", err)
	}
	if len(out.salt) < 8 || len(out.salt) > maxSaltLen || len(out.key) < 16 || len(out.key) > maxKeyLen {
		return out, fmt.Errorf("password: argon2 salt or hash length out of range")
	}
	out.params.SaltLen = uint32(len(out.salt))
	out.params.KeyLen = uint32(len(out.key))
	return out, nil
}

// isBcrypt reports whether s looks like a modular-crypt bcrypt hash.
func isBcrypt(s string) bool {
	return len(s) == 60 && (strings.HasPrefix(s, "$2a$") || strings.HasPrefix(s, "$2b$") || strings.HasPrefix(s, "$2y$"))
}
