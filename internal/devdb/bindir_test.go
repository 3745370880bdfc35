package devdb

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeInstall makes root/<version>/bin holding the named programs.
func fakeInstall(t *testing.T, root, version string, progs ...string) string {
	t.Helper()
	bin := filepath.Join(root, version, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

func noPath(string) (string, error) { return "", errors.New("not on PATH") }

func TestBinDirPrefersNewestCompleteVersion(t *testing.T) {
	root := t.TempDir()
	fakeInstall(t, root, "9.6", programs...)
	want := fakeInstall(t, root, "15", programs...)
	fakeInstall(t, root, "16", "initdb", "postgres") // no pg_ctl: skipped
	fakeInstall(t, root, "nightly", programs...)     // not a version: ignored
	got, err := binDir(noPath, filepath.Join(root, "*", "bin"))
	if err != nil || got != want {
		t.Fatalf("binDir = %q, %v; want %q", got, err, want)
	}
}

func TestBinDirPathWinsAndResolvesSymlinks(t *testing.T) {
	root := t.TempDir()
	real := fakeInstall(t, root, "14", programs...)
	fakeInstall(t, root, "17", programs...)
	link := filepath.Join(t.TempDir(), "initdb")
	if err := os.Symlink(filepath.Join(real, "initdb"), link); err != nil {
		t.Fatal(err)
	}
	got, err := binDir(func(string) (string, error) { return link, nil }, filepath.Join(root, "*", "bin"))
	if err != nil || got != real {
		t.Fatalf("binDir = %q, %v; want PATH's %q", got, err, real)
	}
}

func TestBinDirMissing(t *testing.T) {
	root := t.TempDir()
	_, err := binDir(noPath, filepath.Join(root, "*", "bin"))
	var me *MissingError
	if !errors.As(err, &me) || me.Program != "initdb" {
		t.Fatalf("err = %v, want MissingError for initdb", err)
	}
	if !strings.Contains(err.Error(), "apt-get install postgresql") {
		t.Errorf("error gives no install hint: %v", err)
	}
	fakeInstall(t, root, "15", "initdb", "postgres")
	_, err = binDir(noPath, filepath.Join(root, "*", "bin"))
	if !errors.As(err, &me) || me.Program != "pg_ctl" {
		t.Fatalf("err = %v, want MissingError for pg_ctl", err)
	}
}
