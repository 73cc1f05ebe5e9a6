package track

import (
	"context"
	"time"
)

// reap marks as crashed the running runs whose process is gone: at once when
// the run's process was on this machine (same host and PID namespace) and is
// no longer alive, and in any case when its last heartbeat is older than the
// run's StaleAfter. The crash time recorded as end_time is the last
// heartbeat. A run revived by its own heartbeat goes back to running.
func (s *Store) reap(ctx context.Context) error {
	type cand struct {
		seq, heartbeat int64
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, heartbeat, stale_after, pid, pid_start, host, host_key
		FROM runs WHERE status = 'running' ORDER BY seq`)
	if err != nil {
		return err
	}
	now := time.Now().UnixNano()
	var crashed []cand
	for rows.Next() {
		var c cand
		var stale int64
		var p process
		if err := rows.Scan(&c.seq, &c.heartbeat, &stale, &p.PID, &p.PIDStart, &p.Host, &p.HostKey); err != nil {
			rows.Close()
			return err
		}
		if p.PID == s.self.PID && p.PIDStart == s.self.PIDStart && p.HostKey == s.self.HostKey && p.Host == s.self.Host {
			continue // this process: alive, by definition
		}
		// A live but silent process (hung) also counts as crashed once its
		// heartbeat is stale; should it wake up, its next heartbeat sets
		// it running again.
		if s.self.check(p) == dead || now-c.heartbeat > stale {
			crashed = append(crashed, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(crashed) == 0 {
		return nil
	}
	// In seq order, as selected: processes reaping at once lock the rows in
	// the same order and cannot deadlock.
	return s.write(ctx, func(tx *sqlTx) error {
		for _, c := range crashed {
			// Compare-and-set on the heartbeat: a run that beat since we
			// looked is alive after all.
			if _, err := tx.ExecContext(ctx, `UPDATE runs SET status = 'crashed', end_time = heartbeat,
				error = 'process died without Run.End' WHERE seq = ? AND status = 'running' AND heartbeat = ?`,
				c.seq, c.heartbeat); err != nil {
				return err
			}
		}
		return nil
	})
}
