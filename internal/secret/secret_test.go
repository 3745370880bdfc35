package secret

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{2}, 32)
	b1, _ := New(k1)
	b2, _ := New(k2)
	plain := "postgres://user:hunter2@db/app"
	s := b1.Seal(plain, "project:a:db_url")
	if strings.Contains(s, "hunter2") || s == plain {
		t.Fatalf("ciphertext leaks plaintext: %q", s)
	}
	if s2 := b1.Seal(plain, "project:a:db_url"); s2 == s {
		t.Fatal("two seals of the same value are identical (nonce reuse)")
	}
	got, err := b1.Open(s, "project:a:db_url")
	if err != nil || got != plain {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := b2.Open(s, "project:a:db_url"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: err = %v, want ErrDecrypt", err)
	}
	if _, err := b1.Open(s, "project:b:db_url"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong aad: err = %v", err)
	}
	if _, err := b1.Open("garbage", ""); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("garbage: err = %v", err)
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}
