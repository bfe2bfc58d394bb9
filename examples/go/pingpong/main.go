// pingpong: two goroutines passing a token over unbuffered channels, the
// costliest pattern for a tracer that probes the scheduler (every round trip
// parks and wakes each side once).
//
// Usage: pingpong SECONDS [RESULT_FILE [CPU_PROFILE]]
//
// RESULT_FILE gets the round trips per second. CPU_PROFILE gets Go's own CPU
// profile of the run, which the build uses for a PGO variant (the Go compiler
// then inlines runtime.gopark into the channel operations).
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"time"
)

//go:noinline
func pong(ping <-chan int, reply chan<- int) {
	for v := range ping {
		reply <- v + 1
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pingpong SECONDS [RESULT_FILE]")
		os.Exit(2)
	}
	secs, err := strconv.ParseFloat(os.Args[1], 64)
	if err != nil || secs <= 0 {
		fmt.Fprintln(os.Stderr, "pingpong: bad SECONDS")
		os.Exit(2)
	}
	if len(os.Args) > 3 {
		f, err := os.Create(os.Args[3])
		if err != nil {
			fmt.Fprintln(os.Stderr, "pingpong:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ping, reply := make(chan int), make(chan int)
	go pong(ping, reply)
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	start := time.Now()
	n := 0
	for v := 0; ; n++ {
		if n%1024 == 0 && time.Now().After(deadline) {
			break
		}
		ping <- v
		v = <-reply
	}
	rate := float64(n) / time.Since(start).Seconds()
	out := fmt.Sprintf("%.0f\n", rate)
	if len(os.Args) > 2 {
		os.WriteFile(os.Args[2], []byte(out), 0o644)
	} else {
		fmt.Print(out)
	}
}
