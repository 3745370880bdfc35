// Package token signs and verifies the JWTs MadBase issues (project API keys
// and user access tokens) and generates the opaque sb_publishable_/sb_secret_
// keys. Verification is offline and pinned to HS256: headers such as kid, jku
// or x5u never make it fetch anything. It imports golang-jwt and the standard
// library only.
package token
