package main

import (
	"os"
	"os/signal"
	"syscall"
)

func notifyTERM(ch chan os.Signal) { signal.Notify(ch, syscall.SIGTERM) }

func init() {
	if len(os.Args) > 2 && os.Args[1] == "-child" {
		childMode(os.Args[2:])
	}
}
