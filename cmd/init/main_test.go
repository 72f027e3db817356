package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// initBin is the real binary, built once for the tests of this package the
// way the Makefile builds it.
var initBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stageinit-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	initBin = filepath.Join(dir, "init")
	build := exec.Command("go", "build", "-trimpath", "-o", initBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want options
	}{
		{nil, options{}},
		{[]string{"-v", "--", "a", "-V"}, options{verbose: true, command: []string{"a", "-V"}}},
		{[]string{"--verbose", "--version"}, options{verbose: true, version: true}},
		{[]string{"quiet", "splash", "--", "x"}, options{unknown: []string{"quiet", "splash"}, command: []string{"x"}}},
		{[]string{"--"}, options{command: []string{}}},
	} {
		if got := parseArgs(tc.args); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseArgs(%q) = %+v, want %+v", tc.args, got, tc.want)
		}
	}
}
