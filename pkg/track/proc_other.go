//go:build !linux

package track

// On systems without /proc, crash detection relies on the heartbeat alone.

func hostKey() string { return "" }

func pidStartTime(pid int) int64 { return 0 }

func pidAlive(pid int, start int64) aliveness { return unknown }
