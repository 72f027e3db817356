package machine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadFileLimit: ReadFile reads a file whole, or its first limit
// bytes, and a missing file is os.IsNotExist, as with os.ReadFile.
func TestReadFileLimit(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	data := strings.Repeat("0123456789", 1000) // more than one read
	os.WriteFile(p, []byte(data), 0o644)
	for _, limit := range []int{1, 16, 4096, 9999, 10000, 1 << 20} {
		b, err := ReadFile(p, limit)
		if err != nil || string(b) != data[:min(limit, len(data))] {
			t.Errorf("ReadFile(%d): %d bytes, %v", limit, len(b), err)
		}
	}
	if _, err := ReadFile(p+".missing", 10); !os.IsNotExist(err) {
		t.Errorf("missing file: %v, want not exist", err)
	}
}

// TestReplaceFile: the file is replaced whole, and no temporary file stays.
func TestReplaceFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.prom")
	for _, text := range []string{"a long first text\n", "short\n"} {
		if err := ReplaceFile(p, text); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != text {
			t.Errorf("file holds %q, want %q", b, text)
		}
	}
	if l, _ := os.ReadDir(dir); len(l) != 1 {
		t.Errorf("%d files in the directory, want 1", len(l))
	}
}
