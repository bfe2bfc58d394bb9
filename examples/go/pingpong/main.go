// pingpong: two goroutines passing a token over unbuffered channels, the
// costliest pattern for a tracer that probes the scheduler (every round trip
// parks and wakes each side once).
//
// Usage: pingpong SECONDS [RESULT_FILE]
//
// RESULT_FILE gets the round trips per second.
package main

import (
	"fmt"
	"os"
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
