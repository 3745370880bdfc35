package pgtest

import "github.com/madbase/madbase/internal/devdb"

// BinDir returns the directory holding the PostgreSQL server programs. It is
// the same search `madbase dev` uses (internal/devdb), so tests and the dev
// command agree on which installation they run; the error names the missing
// program and how to install it.
func BinDir() (string, error) { return devdb.BinDir() }
