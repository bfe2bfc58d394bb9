// leaky: the goroutine-leak truth program for asyncprof's Go support.
//
// Usage: leaky [seconds]   (runs until killed when the argument is absent or 0; prints nothing)
//
// TRUTH (what a goroutine-leak report must find; each kind has exactly one creation site,
// i.e. one `go` statement in main, inside a loop where there are several):
//
//	kind      count  blocked in                          wait reason (go1.19 / go1.23)
//	recv        7    main.leakRecv   (<-ch)              chan receive / chan receive
//	send        3    main.leakSend   (ch <- 1)           chan send / chan send
//	select      2    main.leakSelect (select on a, b)    select / select
//	lock        1    main.leakLock   (mu.Lock())         semacquire / sync.Mutex.Lock
//	                                                     ----
//	                                                     13 leaked goroutines in total
//
// Every leaked goroutine is created by main.main and blocks within microseconds of start;
// none of them ever wakes up. The channels are unbuffered and nobody ever sends to / receives
// from them; the mutex is locked by main before leakLock starts and is never unlocked.
//
// NOT leaks (background noise that must not be reported as leaked):
//   - main.worker x4: consume jobs from a buffered job channel; each job burns ~1 ms of CPU
//     (main.burn), so they are mostly running; they may be seen briefly in chan receive.
//   - main.producer x1: keeps the job channel full; it is usually blocked in chan send
//     (on a channel that is being drained, so it is not leaked).
//   - main.spawner x1: every ~5 ms starts a short-lived main.shortTask goroutine that burns
//     ~200 us of CPU and exits.
//   - main.ticker x1: time.Sleep(10 ms) in a loop, doing a tiny bit of work each tick (sleep).
//   - main.main: sleeps for the duration (sleep), holding the mutex.
package main

import (
	"os"
	"strconv"
	"sync"
	"time"
)

// Kept reachable for the whole run so the leaked objects are plainly visible in a heap too.
var (
	recvChans   []chan int
	sendChans   []chan int
	selectChans [][2]chan int
	heldMutex   sync.Mutex
	sink        uint64
	sinkMu      sync.Mutex
)

//go:noinline
func leakRecv(ch chan int) { <-ch }

//go:noinline
func leakSend(ch chan int) { ch <- 1 }

//go:noinline
func leakSelect(a, b chan int) {
	select {
	case <-a:
	case <-b:
	}
}

//go:noinline
func leakLock(mu *sync.Mutex) { mu.Lock() }

// burn spins on arithmetic for about d of wall time.
//
//go:noinline
func burn(d time.Duration) uint64 {
	start := time.Now()
	x := uint64(88172645463325252)
	for {
		for i := 0; i < 1000; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		if time.Since(start) >= d {
			return x
		}
	}
}

//go:noinline
func worker(jobs <-chan int) {
	var acc uint64
	for j := range jobs {
		acc += burn(time.Millisecond) + uint64(j)
	}
	sinkMu.Lock()
	sink += acc
	sinkMu.Unlock()
}

//go:noinline
func producer(jobs chan<- int) {
	for i := 0; ; i++ {
		jobs <- i
	}
}

//go:noinline
func shortTask(n int) {
	v := burn(200*time.Microsecond) + uint64(n)
	sinkMu.Lock()
	sink += v
	sinkMu.Unlock()
}

//go:noinline
func spawner() {
	for i := 0; ; i++ {
		go shortTask(i)
		time.Sleep(5 * time.Millisecond)
	}
}

//go:noinline
func ticker() {
	for n := 0; ; n++ {
		time.Sleep(10 * time.Millisecond)
		sinkMu.Lock()
		sink += uint64(n)
		sinkMu.Unlock()
	}
}

func main() {
	secs := 0.0
	if len(os.Args) > 1 {
		v, err := strconv.ParseFloat(os.Args[1], 64)
		if err != nil || v < 0 {
			os.Stderr.WriteString("usage: leaky [seconds]\n")
			os.Exit(2)
		}
		secs = v
	}

	// The leaks: one creation site per kind.
	for i := 0; i < 7; i++ {
		ch := make(chan int)
		recvChans = append(recvChans, ch)
		go leakRecv(ch)
	}
	for i := 0; i < 3; i++ {
		ch := make(chan int)
		sendChans = append(sendChans, ch)
		go leakSend(ch)
	}
	for i := 0; i < 2; i++ {
		pair := [2]chan int{make(chan int), make(chan int)}
		selectChans = append(selectChans, pair)
		go leakSelect(pair[0], pair[1])
	}
	heldMutex.Lock() // held by main forever
	go leakLock(&heldMutex)

	// The busy, non-leaking part.
	jobs := make(chan int, 64)
	for i := 0; i < 4; i++ {
		go worker(jobs)
	}
	go producer(jobs)
	go spawner()
	go ticker()

	if secs > 0 {
		time.Sleep(time.Duration(secs * float64(time.Second)))
		return
	}
	for {
		time.Sleep(time.Hour)
	}
}
