// service: a small in-process "service" for the asyncprof Go demo.
//
// Usage: service [seconds]   (runs until killed when the argument is absent or 0; prints nothing)
//
// Shape:
//   - main.acceptLoop: a "request" arrives every ~2 ms; each gets its own main.handleRequest
//     goroutine.
//   - main.handleRequest: parses the request (main.parseRequest, CPU), digests it through a deep
//     recursion that makes its goroutine's stack grow (main.digest), then starts a
//     main.fetchResult goroutine and waits for its answer with a 20 ms timeout.
//   - main.fetchResult: submits a job to the worker pool and waits for the reply, then sends
//     the result on an unbuffered channel back to handleRequest. About 1 request in 16 is
//     "slow" (the backend sleeps 40 ms), so handleRequest has already timed out and gone:
//     THE LEAK is fetchResult blocked forever in chan send (main.fetchResult -> `out <- r`),
//     one per slow request, growing at roughly 30 goroutines/s.
//   - main.backend x6: the worker pool; each job does a little CPU (main.computeChecksum)
//     and a simulated I/O wait (time.Sleep).
//   - main.statsLoop: a time.Ticker every 100 ms aggregating counters under a mutex.
package main

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type request struct {
	id      int
	payload []byte
}

type job struct {
	req   request
	slow  bool
	reply chan uint32
}

var (
	served   atomic.Int64
	timedOut atomic.Int64
	statsMu  sync.Mutex
	history  []int64
)

//go:noinline
func parseRequest(id int) request {
	p := make([]byte, 2048)
	x := uint32(id)*2654435761 + 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
	return request{id: id, payload: p}
}

//go:noinline
func computeChecksum(p []byte) uint32 {
	var a, b uint32 = 1, 0
	for round := 0; round < 40; round++ {
		for _, c := range p {
			a = (a + uint32(c)) % 65521
			b = (b + a) % 65521
		}
	}
	return b<<16 | a
}

//go:noinline
func backend(jobs <-chan job) {
	for j := range jobs {
		sum := computeChecksum(j.req.payload)
		if j.slow {
			time.Sleep(40 * time.Millisecond)
		} else {
			time.Sleep(time.Millisecond)
		}
		j.reply <- sum
	}
}

//go:noinline
func fetchResult(req request, jobs chan<- job, out chan<- uint32) {
	reply := make(chan uint32, 1)
	jobs <- job{req: req, slow: req.id%16 == 7, reply: reply}
	r := <-reply
	out <- r // blocks forever when handleRequest has timed out: the leak
}

// digest folds the payload through a deep recursion with big frames, so request goroutines
// outgrow their first stack and the runtime copies it (stack growth) on most requests.
//
//go:noinline
func digest(p []byte, depth int) byte {
	var frame [512]byte
	copy(frame[:], p)
	if depth == 0 {
		return frame[depth%len(frame)]
	}
	return frame[depth%len(frame)] ^ digest(p[1:], depth-1)
}

//go:noinline
func handleRequest(id int, jobs chan<- job) {
	req := parseRequest(id)
	req.payload[0] ^= digest(req.payload, 48)
	out := make(chan uint32) // unbuffered: nobody reads it after a timeout
	go fetchResult(req, jobs, out)
	timer := time.NewTimer(20 * time.Millisecond)
	defer timer.Stop()
	select {
	case <-out:
		served.Add(1)
	case <-timer.C:
		timedOut.Add(1)
	}
}

//go:noinline
func acceptLoop(jobs chan<- job) {
	for id := 0; ; id++ {
		go handleRequest(id, jobs)
		time.Sleep(2 * time.Millisecond)
	}
}

//go:noinline
func statsLoop() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for range t.C {
		statsMu.Lock()
		history = append(history, served.Load()+timedOut.Load())
		if len(history) > 600 {
			history = history[len(history)-600:]
		}
		statsMu.Unlock()
	}
}

func main() {
	secs := 0.0
	if len(os.Args) > 1 {
		v, err := strconv.ParseFloat(os.Args[1], 64)
		if err != nil || v < 0 {
			os.Stderr.WriteString("usage: service [seconds]\n")
			os.Exit(2)
		}
		secs = v
	}

	jobs := make(chan job, 32)
	for i := 0; i < 6; i++ {
		go backend(jobs)
	}
	go statsLoop()
	go acceptLoop(jobs)

	if secs > 0 {
		time.Sleep(time.Duration(secs * float64(time.Second)))
		return
	}
	for {
		time.Sleep(time.Hour)
	}
}
