package main

import (
	"strings"
	"testing"
)

// FuzzFileFlag: -file DST=SRC takes both sides, split at the first "=",
// and refuses a missing side.
func FuzzFileFlag(f *testing.F) {
	for _, s := range []string{"/bin/busybox=/bin/busybox", "=x", "x=", "noequals", "/a=b=c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		files := fileFlags{}
		err := files.Set(s)
		dst, src, ok := strings.Cut(s, "=")
		if want := ok && dst != "" && src != ""; (err == nil) != want || (err == nil && files[dst] != src) {
			t.Fatalf("%q: err %v, files %v", s, err, files)
		}
	})
}
