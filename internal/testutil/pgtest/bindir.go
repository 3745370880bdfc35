package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
)

// pkgDirGlob is where Debian/Ubuntu packages put the server binaries, one
// directory per major version; they are not on PATH by default there.
const pkgDirGlob = "/usr/lib/postgresql/*/bin"

// MissingBinaryError reports that a PostgreSQL program could not be found.
type MissingBinaryError struct {
	Name string // e.g. "initdb"
	Dir  string // where initdb was found but Name was not; empty if initdb itself is missing
}

func (e *MissingBinaryError) Error() string {
	where := "on PATH or in " + pkgDirGlob
	if e.Dir != "" {
		where = "in " + e.Dir + " (next to initdb)"
	}
	return fmt.Sprintf("PostgreSQL server binary %q not found %s; install the PostgreSQL server "+
		"(Debian/Ubuntu: apt-get install postgresql) or put its bin directory on PATH", e.Name, where)
}

// BinDir returns the directory holding the PostgreSQL server binaries
// (initdb, postgres, pg_ctl). It looks for initdb on PATH first, then in
// /usr/lib/postgresql/*/bin, preferring the newest major version. Symlinks
// are resolved so the result is the real installation directory, where
// postgres sits next to initdb. The error is a *MissingBinaryError when
// nothing usable is found.
func BinDir() (string, error) {
	return findBinDir(exec.LookPath, pkgDirGlob)
}

// findBinDir is BinDir with its two sources passed in, for tests.
func findBinDir(lookPath func(string) (string, error), pkgGlob string) (string, error) {
	var candidates []string
	if p, err := lookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	candidates = append(candidates, packagedBinDirs(pkgGlob)...)
	if len(candidates) == 0 {
		return "", &MissingBinaryError{Name: "initdb"}
	}
	var firstErr error
	for _, dir := range candidates {
		err := checkBinDir(dir)
		if err == nil {
			return dir, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return "", firstErr
}

// packagedBinDirs lists the <version>/bin directories matching glob that
// contain initdb, newest version first.
func packagedBinDirs(glob string) []string {
	matches, _ := filepath.Glob(glob)
	type dir struct {
		path    string
		version float64
	}
	var dirs []dir
	for _, m := range matches {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(m)), 64)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(m, "initdb")); err != nil {
			continue
		}
		dirs = append(dirs, dir{m, v})
	}
	slices.SortFunc(dirs, func(a, b dir) int {
		switch {
		case a.version > b.version:
			return -1
		case a.version < b.version:
			return 1
		}
		return 0
	})
	out := make([]string, len(dirs))
	for i, d := range dirs {
		out[i] = d.path
	}
	return out
}

// checkBinDir accepts a directory only if it holds every program Start runs.
func checkBinDir(dir string) error {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			missing := &MissingBinaryError{Name: name, Dir: dir}
			if name == "initdb" {
				missing.Dir = ""
			}
			return missing
		}
	}
	return nil
}
