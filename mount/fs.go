package mount

import (
	"fmt"
	"os"
)

// Link is a symlink to create: Path -> Target.
type Link struct{ Path, Target string }

// links are the conventional /dev and /etc symlinks.
var links = []Link{
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
	{"/etc/mtab", "/proc/self/mounts"},
}

// stickyDirs are created world-writable with the sticky bit.
var stickyDirs = []string{"/dev/shm", "/tmp"}

// Skeleton creates links and stickyDirs; an existing link or directory is
// left alone. It returns one line per failure for the log.
func Skeleton() (failed []string) {
	for _, l := range links {
		if _, err := os.Lstat(l.Path); err == nil {
			continue
		}
		if err := os.Symlink(l.Target, l.Path); err != nil {
			failed = append(failed, fmt.Sprintf("symlink %s -> %s: %v", l.Path, l.Target, err))
		}
	}
	for _, d := range stickyDirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			failed = append(failed, fmt.Sprintf("mkdir %s: %v", d, err))
			continue
		}
		if err := os.Chmod(d, os.ModeDir|os.ModeSticky|0o777); err != nil {
			failed = append(failed, fmt.Sprintf("chmod 01777 %s: %v", d, err))
		}
	}
	return failed
}

// RemoveInit unlinks /init from the rootfs, giving its RAM back; the
// running binary stays mapped. Only when it is init's own executable.
func RemoveInit(self string) error {
	if self != "/init" {
		return nil
	}
	if err := os.Remove("/init"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("unlink /init: %w", err)
	}
	return nil
}
