/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_RECORDING_LOCK_H
#define ASYNCPROF_RECORDING_LOCK_H

#include <sys/types.h>

/*
 * recording_lock: one recording per target process. Two recordings of one process disturb
 * each other (each one's probes trap in the other's samples, its calibration hooks come and go
 * under the other's task attribution), so the second one is refused, naming the first.
 *
 * The lock is an abstract Unix socket named after the target (its pid and start time, so a
 * reused pid is another target) that the recording binds and listens on: the kernel drops it
 * when the recording ends, however it ends (kill -9 included), nothing is left in a file system,
 * and a second recording that cannot bind the name connects to it and learns the first one's pid
 * from the connection's credentials (SO_PEERCRED).
 */

/*
 * Takes the lock for target. Returns a file descriptor to keep open while recording (closing
 * it releases the lock); -EBUSY when another process holds it (*holder is its pid, 0 when it
 * could not be told); or another -errno when no lock could be made.
 */
int recording_lock(pid_t target, pid_t *holder);

/*
 * Giving way. An always-on agent holds the lock of every process it profiles, and a person who
 * wants a closer look at one of them (attach --mode full) must not have to stop the agent of
 * the whole host: the newcomer connects to the lock and writes RECORDING_LOCK_ASK; a holder that
 * gives way (the agent: recording_lock_asked() when its lock fd is readable) stops its recording
 * and closes its lock, and the newcomer takes it. A holder that does not (attach, run: they
 * never accept) keeps it, and the newcomer is refused as before.
 */
#define RECORDING_LOCK_ASK 'Y'

/* Asks the holder of target's lock to give it up, and takes it when it does, waiting at most
 * wait_ms. Returns the lock's fd, -EBUSY (*holder: its pid, 0 unknown) or another -errno. */
int recording_lock_ask(pid_t target, unsigned int wait_ms, pid_t *holder);

/* For a holder, when lock_fd is readable: takes the connections waiting; returns 1 when one of
 * them asked for the lock (*asker: its pid, when it can be told), else 0. */
int recording_lock_asked(int lock_fd, pid_t *asker);

#endif
