package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// initBin is the real binary, built once for the tests of this package the
// way the Makefile builds it.
var initBin string

// scale stretches every deadline of this package's tests: how much longer
// than on an idle machine of the project's kind (calibrationIdle) twenty
// runs of `init -- /bin/sh -c :` took here, at least 1. A busy machine then
// waits longer instead of failing.
var (
	scale       = 1.0
	calibration time.Duration
)

const calibrationIdle = 200 * time.Millisecond

// stretch is d stretched by the calibration.
func stretch(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }

func calibrate() error {
	begin := time.Now()
	for i := 0; i < 20; i++ {
		if out, err := exec.Command(initBin, "--", "/bin/sh", "-c", ":").CombinedOutput(); err != nil {
			return fmt.Errorf("calibration: init -- /bin/sh -c : %v: %s", err, out)
		}
	}
	calibration = time.Since(begin)
	scale = max(1, float64(calibration)/float64(calibrationIdle))
	return nil
}

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
	if err := calibrate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if podmanImage != "" {
		exec.Command("podman", "rmi", "-f", podmanImage).Run()
	}
	if testing.Verbose() || code != 0 {
		fmt.Printf("calibration: 20 runs in %v, deadlines x%.2f\n", calibration.Round(time.Millisecond), scale)
	}
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
