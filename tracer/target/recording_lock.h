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

#endif
