package track

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Artifact is a file attached to a run. Its content lives once per distinct
// content in the store's artifact folder, named by its sha256.
type Artifact struct {
	// Name is the name given to LogArtifact, unique within the run.
	Name   string    `json:"name"`
	SHA256 string    `json:"sha256"` // hex
	Size   int64     `json:"size"`
	Time   time.Time `json:"time"`
	// Path is the content file's absolute path. Treat it as read-only:
	// runs with the same content share it.
	Path string `json:"path"`
}

// blobPath returns where content with the hex hash sum is stored.
func (s *Store) blobPath(sum string) string {
	return filepath.Join(s.artifactDir, sum[:2], sum[2:])
}

// LogArtifact stores the content of r under name (for example
// "samples/step-1000.png" or "checkpoint.bin"). The content is written to a
// temporary file, synced, and moved to its content-addressed place, so a
// crash leaves no partial artifact. Logging the same name again replaces the
// earlier content for this run. It works after End too (for example to
// attach an executed notebook). An empty name is an error; rd's read error
// is returned. Errors are kept in Err too.
func (r *Run) LogArtifact(name string, rd io.Reader) error {
	if !r.Enabled() {
		return nil
	}
	if err := checkKey("artifact", name); err != nil {
		return r.fail(err)
	}
	sum, size, err := r.st.putBlob(rd)
	if err != nil {
		return r.fail(fmt.Errorf("track: LogArtifact %q: %w", name, err))
	}
	ctx := context.Background()
	err = r.st.write(ctx, func(tx *sqlTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO artifacts (run, name, sha256, size, time) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (run, name) DO UPDATE SET sha256 = excluded.sha256, size = excluded.size, time = excluded.time`,
			r.seq, name, sum, size, time.Now().UnixNano())
		return err
	})
	if err != nil {
		return r.fail(fmt.Errorf("track: LogArtifact %q: %w", name, err))
	}
	return nil
}

// LogArtifactFile stores the file at path as an artifact named by its base
// name (see LogArtifact).
func (r *Run) LogArtifactFile(path string) error {
	if !r.Enabled() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return r.fail(fmt.Errorf("track: LogArtifactFile: %w", err))
	}
	defer f.Close()
	return r.LogArtifact(filepath.Base(path), f)
}

// putBlob copies rd into the artifact folder and returns its hash and size.
func (s *Store) putBlob(rd io.Reader) (sum string, size int64, err error) {
	if s.artifactDir == "" {
		return "", 0, errNoArtifactRoot
	}
	tmpDir := filepath.Join(s.artifactDir, "tmp")
	if err := os.MkdirAll(tmpDir, 0o755); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(tmpDir, "upload-*")
	if err != nil {
		return "", 0, err
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), rd)
	if err != nil {
		return "", 0, err
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	sum = hex.EncodeToString(h.Sum(nil))
	dst := s.blobPath(sum)
	if _, err := os.Stat(dst); err == nil {
		// Same content is already stored. Refresh its time so that a
		// concurrent GC, which spares recent files, keeps it.
		now := time.Now()
		os.Chtimes(dst, now, now)
		os.Remove(tmp.Name())
		tmp = nil
		return sum, size, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", 0, err
	}
	if err := os.Chmod(tmp.Name(), 0o444); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, err
	}
	tmp = nil
	return sum, size, nil
}

// Artifacts lists the artifacts of run runID by name. An unknown run gives an
// error wrapping ErrNotFound.
func (s *Store) Artifacts(runID string) ([]Artifact, error) {
	ctx := context.Background()
	seq, err := s.runSeq(ctx, runID)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT name, sha256, size, time FROM artifacts WHERE run = ? ORDER BY name", seq)
	if err != nil {
		return nil, fmt.Errorf("track: Artifacts %s: %w", runID, err)
	}
	defer rows.Close()
	arts := []Artifact{}
	for rows.Next() {
		var a Artifact
		var t int64
		if err := rows.Scan(&a.Name, &a.SHA256, &a.Size, &t); err != nil {
			return nil, fmt.Errorf("track: Artifacts %s: %w", runID, err)
		}
		a.Time = time.Unix(0, t)
		a.Path = s.blobPath(a.SHA256)
		arts = append(arts, a)
	}
	return arts, rows.Err()
}

// OpenArtifact opens the content of artifact name of run runID. An unknown
// run or name gives an error wrapping ErrNotFound; a content file that has
// gone missing gives the file system's error.
func (s *Store) OpenArtifact(runID, name string) (io.ReadCloser, error) {
	ctx := context.Background()
	seq, err := s.runSeq(ctx, runID)
	if err != nil {
		return nil, err
	}
	var sum string
	err = s.db.QueryRowContext(ctx, "SELECT sha256 FROM artifacts WHERE run = ? AND name = ?", seq, name).Scan(&sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("track: artifact %q of run %s: %w", name, runID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("track: OpenArtifact %s/%s: %w", runID, name, err)
	}
	f, err := os.Open(s.blobPath(sum))
	if err != nil {
		return nil, fmt.Errorf("track: OpenArtifact %s/%s: %w", runID, name, err)
	}
	return f, nil
}

// GCOptions selects what Store.GC deletes besides unreferenced artifact
// files.
type GCOptions struct {
	// DeleteStatus deletes the runs in these states (typically failed and
	// crashed) with their params, metrics and artifact references. Running
	// runs are never deleted.
	DeleteStatus []Status
	// OlderThan, when positive, restricts DeleteStatus to runs that started
	// more than this long ago.
	OlderThan time.Duration
	// Grace spares artifact files modified within this long, so that a
	// LogArtifact in progress elsewhere keeps its file. Default 1 hour.
	Grace time.Duration
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
}

// GCReport says what Store.GC deleted (or would delete, on a dry run).
type GCReport struct {
	RunsDeleted  int
	FilesDeleted int
	BytesFreed   int64
}

// GC deletes the runs GCOptions selects, then the artifact files that no run
// references any more. Running runs are refused as DeleteStatus.
func (s *Store) GC(opts GCOptions) (GCReport, error) {
	var rep GCReport
	ctx := context.Background()
	if opts.Grace <= 0 {
		opts.Grace = time.Hour
	}
	for _, st := range opts.DeleteStatus {
		if st == StatusRunning {
			return rep, errors.New("track: GC: cannot delete running runs")
		}
		if !validStatus(st) {
			return rep, fmt.Errorf("track: GC: unknown status %q (allowed: %s)", st, statusNames())
		}
	}
	if err := s.reap(ctx); err != nil {
		return rep, fmt.Errorf("track: GC: %w", err)
	}
	if len(opts.DeleteStatus) > 0 {
		q := "FROM runs WHERE status IN (" + strings.TrimSuffix(strings.Repeat("?,", len(opts.DeleteStatus)), ",") + ")"
		args := make([]any, 0, len(opts.DeleteStatus)+1)
		for _, st := range opts.DeleteStatus {
			args = append(args, string(st))
		}
		if opts.OlderThan > 0 {
			q += " AND start_time < ?"
			args = append(args, time.Now().Add(-opts.OlderThan).UnixNano())
		}
		err := s.write(ctx, func(tx *sqlTx) error {
			if opts.DryRun {
				return tx.QueryRowContext(ctx, "SELECT count(*) "+q, args...).Scan(&rep.RunsDeleted)
			}
			res, err := tx.ExecContext(ctx, "DELETE "+q, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			rep.RunsDeleted = int(n)
			return err
		})
		if err != nil {
			return rep, fmt.Errorf("track: GC: deleting runs: %w", err)
		}
	}
	used := map[string]bool{}
	rows, err := s.db.QueryContext(ctx, "SELECT DISTINCT sha256 FROM artifacts")
	if err != nil {
		return rep, fmt.Errorf("track: GC: %w", err)
	}
	for rows.Next() {
		var sum string
		if err := rows.Scan(&sum); err != nil {
			rows.Close()
			return rep, fmt.Errorf("track: GC: %w", err)
		}
		used[sum] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("track: GC: %w", err)
	}
	if s.artifactDir == "" {
		return rep, nil // no artifact files to collect
	}
	cutoff := time.Now().Add(-opts.Grace)
	err = filepath.WalkDir(s.artifactDir, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && path == s.artifactDir {
			return fs.SkipAll
		}
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		rel, _ := filepath.Rel(s.artifactDir, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		switch {
		case len(parts) == 2 && parts[0] == "tmp":
			// Leftover of an interrupted upload.
		case len(parts) == 2 && len(parts[0]) == 2 && !used[parts[0]+parts[1]]:
		default:
			return nil
		}
		if info.ModTime().After(cutoff) {
			return nil
		}
		rep.FilesDeleted++
		rep.BytesFreed += info.Size()
		if opts.DryRun {
			return nil
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("track: GC: %w", err)
	}
	return rep, nil
}
