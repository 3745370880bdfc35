package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/madbase/madbase/"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs `go list -deps` style discovery over the module's
// non-test code.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps", mod+"...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// area maps a package to the part of the design it belongs to.
func area(path string) string {
	rel, ok := strings.CutPrefix(path, mod)
	if !ok {
		return ""
	}
	parts := strings.Split(rel, "/")
	if parts[0] == "internal" && len(parts) > 1 {
		if parts[1] == "testutil" {
			return "testutil"
		}
		return parts[1]
	}
	return parts[0]
}

var (
	surfaces = map[string]bool{"auth": true, "rest": true, "storage": true, "realtime": true, "functions": true}
	leaves   = map[string]bool{"secret": true, "password": true, "mail": true, "ratelimit": true, "bus": true, "metrics": true}
	// core packages sit below every surface.
	core = map[string]bool{"config": true, "httpx": true, "pg": true, "migrate": true, "token": true, "control": true, "tenant": true}
)

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		from := area(p.ImportPath)
		for _, dep := range p.Deps {
			to := area(dep)
			if to == "" || to == from {
				continue
			}
			switch {
			case to == "server" && from != "cmd" && from != "testutil":
				t.Errorf("%s imports %s: only cmd/madbase may import the composition root", p.ImportPath, dep)
			case to == "testutil":
				t.Errorf("%s imports %s: test helpers are for tests only", p.ImportPath, dep)
			case surfaces[from] && surfaces[to]:
				t.Errorf("%s imports %s: client surfaces never import each other", p.ImportPath, dep)
			case (leaves[from] || core[from]) && (surfaces[to] || to == "admin"):
				t.Errorf("%s imports %s: leaf and core packages import no surface", p.ImportPath, dep)
			case leaves[from] && leaves[to]:
				t.Errorf("%s imports %s: leaf utilities do not import each other", p.ImportPath, dep)
			case surfaces[from] && to == "admin":
				t.Errorf("%s imports %s: admin sits above the surfaces", p.ImportPath, dep)
			}
		}
	}
}

// TestRulesCatchViolations proves the rules are live: a synthetic package
// list with a forbidden edge must be flagged.
func TestRulesCatchViolations(t *testing.T) {
	if area(mod+"internal/rest/query") != "rest" || area(mod+"internal/testutil/pgtest") != "testutil" || area(mod+"cmd/madbase") != "cmd" {
		t.Fatal("area mapping is wrong")
	}
	if !(surfaces[area(mod+"internal/auth")] && surfaces[area(mod+"internal/rest/sqlgen")]) {
		t.Fatal("surface detection is wrong")
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if !strings.HasPrefix(p.ImportPath, mod) {
			continue
		}
		dir := strings.TrimPrefix(p.ImportPath, mod)
		out, err := exec.Command("go", "list", "-f", "{{.Dir}}", p.ImportPath).Output()
		if err != nil {
			t.Fatal(err)
		}
		d := strings.TrimSpace(string(out))
		if _, err := exec.Command("test", "-f", d+"/doc.go").Output(); err != nil && dir != "cmd/madbase" {
			t.Errorf("%s has no doc.go", dir)
		}
	}
}
