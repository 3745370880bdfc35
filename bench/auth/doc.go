// Package authbench measures /auth/v1 password logins and token refreshes
// per second through the real server handler and PostgreSQL, against the
// raw argon2id verification rate measured in the same run (the floor a
// login cannot beat). It holds only benchmarks, behind the "bench" build
// tag, so the normal test run skips it:
//
//	go test -tags bench -run '^$' -bench . -benchtime 3s ./bench/auth/
//
// It may import anything; nothing imports it.
package authbench
