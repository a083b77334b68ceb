package loadgen

import (
	"encoding/binary"
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// ticker fires every interval with microsecond precision. Go's timers
// wake an idle process through epoll_wait, whose timeout has millisecond
// granularity: a paced generator sleeping on them would send up to a
// millisecond late, and a latency measured from the scheduled time would
// charge that to the server. A timerfd wakes the same epoll_wait at the
// kernel's hrtimer precision.
type ticker struct {
	f *os.File
}

// newTicker starts a periodic CLOCK_MONOTONIC timerfd.
func newTicker(interval time.Duration) (*ticker, error) {
	const clockMonotonic, tfdNonblock, tfdCloexec = 1, syscall.O_NONBLOCK, syscall.O_CLOEXEC
	fd, _, e := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if e != 0 {
		return nil, e
	}
	ts := syscall.NsecToTimespec(int64(interval))
	spec := [2]syscall.Timespec{ts, ts} // it_interval, it_value
	if _, _, e := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		syscall.Close(int(fd))
		return nil, e
	}
	f := os.NewFile(fd, "timerfd")
	if f == nil {
		return nil, errors.New("loadgen: timerfd")
	}
	return &ticker{f: f}, nil
}

// wait blocks until the timer has fired at least once more.
func (t *ticker) wait() error {
	var buf [8]byte
	_, err := t.f.Read(buf[:])
	_ = binary.LittleEndian.Uint64(buf[:]) // expirations; the caller goes by the clock
	return err
}

func (t *ticker) stop() { _ = t.f.Close() }
