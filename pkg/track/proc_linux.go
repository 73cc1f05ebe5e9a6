package track

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// hostKey combines the kernel boot id with the PID namespace, so that two
// containers sharing a host name, or one machine across a reboot, are never
// mistaken for the same PID space.
func hostKey() string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + "|" + ns
}

// procStat returns the state letter and start time (field 22 of
// /proc/PID/stat, clock ticks since boot) of a process.
func procStat(pid int) (state byte, start int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return 0, 0, false
	}
	start, err = strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return fields[0][0], start, true
}

func pidStartTime(pid int) int64 {
	_, start, _ := procStat(pid)
	return start
}

// pidAlive reports whether the process pid that started at start is alive.
// A zombie, or a different process that reused the PID, counts as dead.
func pidAlive(pid int, start int64) aliveness {
	if pid <= 0 {
		return unknown
	}
	state, s, ok := procStat(pid)
	if !ok {
		if _, err := os.Stat("/proc/self/stat"); err != nil {
			return unknown // no /proc mounted
		}
		return dead
	}
	if state == 'Z' || state == 'X' {
		return dead
	}
	if start != 0 && s != start {
		return dead
	}
	return alive
}
