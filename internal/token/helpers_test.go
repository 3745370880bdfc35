package token

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func signWith(t *testing.T, alg string, secret []byte) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), jwt.MapClaims{"role": "service_role", "exp": time.Now().Add(time.Hour).Unix()})
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signJKU(t *testing.T, secret []byte) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "anon", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["jku"] = "http://127.0.0.1:1/jwks.json"
	tok.Header["kid"] = "x"
	tok.Header["x5u"] = "http://127.0.0.1:1/cert"
	s, err := tok.SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
