//go:build benchprofile

package main

// Built only with -tags benchprofile (make bench -serverprofile): a CPU profile of
// the whole process, for the bench to read. Production builds never have it.

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("BENCHPROFILE_CPU")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	go func() {
		<-sig
		pprof.StopCPUProfile()
		_ = f.Close()
	}()
}
