package runtime

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"testing"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func respBody(r *Response) []byte {
	if r == nil {
		return nil
	}
	return r.Body
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// tinyModule hand-assembles a module with one function of type () -> ()
// exported as export and made of code, optionally preceded by one imported
// function of the same type.
func tinyModule(importModule, importName, export string, code []byte) []byte {
	return tinyModuleMem(0, importModule, importName, export, code)
}

// tinyModuleMem is tinyModule with a memory of minPages pages when minPages > 0.
func tinyModuleMem(minPages int, importModule, importName, export string, code []byte) []byte {
	uleb := func(n int) []byte {
		var b []byte
		for {
			c := byte(n & 0x7f)
			n >>= 7
			if n == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	name := func(s string) []byte { return cat(uleb(len(s)), []byte(s)) }
	section := func(id byte, content []byte) []byte { return cat([]byte{id}, uleb(len(content)), content) }

	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, section(1, []byte{1, 0x60, 0, 0})...) // one type: () -> ()
	imported := 0
	if importModule != "" {
		b = append(b, section(2, cat([]byte{1}, name(importModule), name(importName), []byte{0x00, 0}))...)
		imported = 1
	}
	b = append(b, section(3, []byte{1, 0})...)
	if minPages > 0 {
		b = append(b, section(5, cat([]byte{1, 0}, uleb(minPages)))...)
	}
	b = append(b, section(7, cat([]byte{1}, name(export), []byte{0x00, byte(imported)}))...)
	body := cat([]byte{0}, code, []byte{0x0b})
	return append(b, section(10, cat([]byte{1}, uleb(len(body)), body))...)
}
