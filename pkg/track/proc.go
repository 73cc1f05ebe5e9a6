package track

import (
	"os"
	"sync"
)

// process identifies a process well enough to tell, from another process on
// the same machine, whether it is still alive.
type process struct {
	PID      int
	PIDStart int64  // start time of the process in clock ticks since boot (Linux), or 0
	Host     string // host name, for people
	HostKey  string // boot id and PID namespace: PIDs are comparable only when these match
}

var (
	selfOnce sync.Once
	selfProc process
)

// currentProcess describes this process; it is computed once.
func currentProcess() process {
	selfOnce.Do(func() {
		host, _ := os.Hostname()
		selfProc = process{
			PID:      os.Getpid(),
			PIDStart: pidStartTime(os.Getpid()),
			Host:     host,
			HostKey:  hostKey(),
		}
	})
	return selfProc
}

// aliveness is what a PID check can tell.
type aliveness int

const (
	unknown aliveness = iota // cannot tell: another host, or no way to check
	alive
	dead
)

// check reports whether the process p is alive, as seen from me.
func (me process) check(p process) aliveness {
	if p.HostKey == "" || p.HostKey != me.HostKey || p.Host != me.Host {
		return unknown
	}
	return pidAlive(p.PID, p.PIDStart)
}
