// prodcons: a fast producer blocked on a full channel because its consumer is slow.
//
// Usage: prodcons SECONDS [RESULT_FILE]
//
// main.produce sends items as fast as it can on a channel with room for 4
// (the send at main.go:25); main.consume takes about 2 ms of CPU per item. The
// channel is full almost all the time, so the producer spends nearly the whole
// run blocked in "chan send" at its send site, and the consumer almost never
// waits. RESULT_FILE gets "items consumed".
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

var sink uint64

//go:noinline
func produce(ch chan<- int) {
	for i := 0; ; i++ {
		ch <- i // the producer's send site: main.go:25
	}
}

//go:noinline
func work(v int) {
	x := uint64(v) | 1
	for start := time.Now(); time.Since(start) < 2*time.Millisecond; {
		for i := 0; i < 1000; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
	}
	sink += x
}

var consumed atomic.Int64

//go:noinline
func consume(ch <-chan int) {
	for v := range ch {
		work(v)
		consumed.Add(1)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: prodcons SECONDS [RESULT_FILE]")
		os.Exit(2)
	}
	secs, err := strconv.ParseFloat(os.Args[1], 64)
	if err != nil || secs <= 0 {
		fmt.Fprintln(os.Stderr, "prodcons: bad SECONDS")
		os.Exit(2)
	}
	ch := make(chan int, 4)
	go produce(ch)
	go consume(ch)
	time.Sleep(time.Duration(secs * float64(time.Second)))
	if len(os.Args) > 2 {
		os.WriteFile(os.Args[2], []byte(fmt.Sprintf("%d\n", consumed.Load())), 0o644)
	}
}
