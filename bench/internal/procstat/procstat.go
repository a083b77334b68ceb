// Package procstat reads process CPU time on Linux.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// CPU returns the user+system CPU time of process pid so far, from
// /proc/<pid>/stat (utime and stime, all threads; 10 ms resolution).
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("procstat: bad /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("procstat: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("procstat: bad times in /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// SelfCPU returns this process's user+system CPU time (microsecond
// resolution).
func SelfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// RSS returns the resident set size of process pid, from /proc/<pid>/status.
func RSS(pid int) (int64, error) {
	return statusKB(pid, "VmRSS:")
}

// PeakRSS returns the peak resident set size (VmHWM) of process pid.
func PeakRSS(pid int) (int64, error) {
	return statusKB(pid, "VmHWM:")
}

func statusKB(pid int, key string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("procstat: no %s in /proc/%d/status", key, pid)
}

// System is the machine-wide CPU time from /proc/stat, in clock ticks
// summed over every CPU.
type System struct {
	Busy  int64 // user, nice, system: processes
	IRQ   int64 // irq and softirq: interrupts, and loopback networking
	Idle  int64 // idle and iowait
	Steal int64 // taken by the hypervisor
}

// SystemCPU reads the aggregate "cpu" line of /proc/stat.
func SystemCPU() (System, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return System{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return System{}, fmt.Errorf("procstat: bad /proc/stat")
	}
	var v [8]int64
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	return System{Busy: v[0] + v[1] + v[2], IRQ: v[5] + v[6], Idle: v[3] + v[4], Steal: v[7]}, nil
}

// Seconds converts clock ticks to seconds.
func Seconds(ticks int64) float64 { return float64(ticks) * clockTick.Seconds() }
