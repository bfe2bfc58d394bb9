// hog: scheduling latency under GOMAXPROCS=1.
//
// Usage: hog SECONDS [RESULT_FILE]
//
// With one P, main.spin burns CPU without ever blocking. About every
// millisecond it hands an item to main.worker with a non-blocking channel send:
// that makes the worker runnable, but the P stays with the hog until the
// runtime preempts it (it does so after about 10 ms), so the worker waits for a
// thread. The worker measures that wait itself, from the time stamped in the
// item to the moment it receives it; RESULT_FILE gets
// "items mean_latency_ms max_latency_ms median_latency_ms".
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"
)

var sink uint64

//go:noinline
func spin(items chan<- time.Time, stop <-chan struct{}) {
	x := uint64(1)
	last := time.Now()
	for {
		for i := 0; i < 1000; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		sink = x
		if now := time.Now(); now.Sub(last) >= time.Millisecond {
			last = now
			select {
			case items <- now:
			case <-stop:
				close(items)
				return
			default: // the worker has not run since the last item: it is still runnable
			}
		}
	}
}

type latency struct {
	n        int
	sum, max time.Duration
	all      []time.Duration
}

//go:noinline
func worker(items <-chan time.Time, stats *latency, done chan<- struct{}) {
	for sent := range items {
		late := time.Since(sent)
		stats.n++
		stats.sum += late
		stats.all = append(stats.all, late)
		if late > stats.max {
			stats.max = late
		}
	}
	close(done)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: hog SECONDS [RESULT_FILE]")
		os.Exit(2)
	}
	secs, err := strconv.ParseFloat(os.Args[1], 64)
	if err != nil || secs <= 0 {
		fmt.Fprintln(os.Stderr, "hog: bad SECONDS")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	var stats latency
	items := make(chan time.Time) // unbuffered: a send succeeds only when the worker waits
	stop := make(chan struct{})
	done := make(chan struct{})
	go spin(items, stop)
	go worker(items, &stats, done)
	time.Sleep(time.Duration(secs * float64(time.Second)))
	close(stop)
	<-done
	mean, median := 0.0, 0.0
	if stats.n > 0 {
		mean = float64(stats.sum) / float64(stats.n) / 1e6
		sort.Slice(stats.all, func(i, j int) bool { return stats.all[i] < stats.all[j] })
		median = float64(stats.all[stats.n/2]) / 1e6
	}
	out := fmt.Sprintf("%d %.3f %.3f %.3f\n", stats.n, mean, float64(stats.max)/1e6, median)
	if len(os.Args) > 2 {
		os.WriteFile(os.Args[2], []byte(out), 0o644)
	} else {
		fmt.Print(out)
	}
}
