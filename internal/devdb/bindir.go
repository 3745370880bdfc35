package devdb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
)

// debianBinGlob matches where Debian and Ubuntu install the server programs,
// one directory per major version, off PATH.
const debianBinGlob = "/usr/lib/postgresql/*/bin"

// programs are the server programs a dev cluster runs.
var programs = []string{"initdb", "pg_ctl", "postgres"}

// MissingError says that the PostgreSQL server programs are not installed.
type MissingError struct {
	Program string // the first program not found
	Looked  []string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("PostgreSQL server program %q not found (looked on PATH and in %s); "+
		"install PostgreSQL (Debian/Ubuntu: apt-get install postgresql) or put its bin directory on PATH",
		e.Program, debianBinGlob)
}

// BinDir returns a directory holding initdb, pg_ctl and postgres. Candidates
// are initdb's directory on PATH (symlinks resolved, so the real install
// directory) and then Debian's per-version directories, newest first. The
// error is a *MissingError when none is complete.
func BinDir() (string, error) {
	return binDir(exec.LookPath, debianBinGlob)
}

func binDir(lookPath func(string) (string, error), glob string) (string, error) {
	var dirs []string
	if p, err := lookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	dirs = append(dirs, versionDirs(glob)...)
	missing := &MissingError{Program: "initdb", Looked: dirs}
	for _, d := range dirs {
		prog := firstMissing(d)
		if prog == "" {
			return d, nil
		}
		if missing.Program == "initdb" {
			missing.Program = prog
		}
	}
	return "", missing
}

// versionDirs expands glob (…/<major>/bin) and sorts by major version,
// highest first; entries whose version is not a number are dropped.
func versionDirs(glob string) []string {
	matches, _ := filepath.Glob(glob)
	type cand struct {
		dir string
		v   float64
	}
	var cs []cand
	for _, m := range matches {
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(m)), 64)
		if err == nil {
			cs = append(cs, cand{m, v})
		}
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].v > cs[j].v })
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.dir)
	}
	return out
}

// firstMissing names the first program that dir lacks (or cannot run); ""
// when it has them all.
func firstMissing(dir string) string {
	for _, p := range programs {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return p
		}
	}
	return ""
}
