package store

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The spool of relaxed events (AppendEventRelaxed): each is appended to a
// file beside the database with one write(2) before the call returns, and
// the writer moves them into audit_events in batches, a few milliseconds
// later, in one durable transaction per batch.
//
// Why: a login Duo is not required for changes nothing, yet its audit row
// cost a SQLite commit (a dozen pwrite and fcntl calls for the row and its
// three indexes) on the call's path. A write(2) to a file reaches the
// kernel before the call answers, so a crash of the plugin process loses
// no event; only a power cut may take back the last ones (as
// synchronous=NORMAL would).
//
// Exactly once: the spool is a series of files, DBFile-events.<gen>. An
// import closes the current file (appends go to the next generation),
// inserts its events and sets PRAGMA user_version to its generation in the
// same transaction, then deletes the file. At open, files of generations
// not yet imported (after a crash) are imported the same way, and those
// already imported (a crash between the commit and the delete) are deleted
// without being imported again. Generations are compared as serial
// numbers (RFC 1982), so user_version's 32 bits never run out.
//
// Readers of the log (Events, ListEvents, EachEvent, CountLogins) import
// what is spooled first, so they always see every event written before
// them.

// spoolSuffix names the spool's files: DBFile + spoolSuffix + gen.
const spoolSuffix = "-events."

// spoolMax bounds the events waiting for an import: past it, the caller
// that spools imports them itself (so an import is one short transaction,
// and the spool never grows faster than the writer drains it).
const spoolMax = 512

// spoolDelay is how long an import waits after the first spooled event, to
// take the ones that follow into the same transaction.
const spoolDelay = 5 * time.Millisecond

// spooled is one generation's events.
type spooled struct {
	gen uint32
	evs []Event
}

type spool struct {
	base string // the database's path; files are base+spoolSuffix+gen

	mu      sync.Mutex // guards f, gen, pending, waiting; held across each write(2)
	f       *os.File
	gen     uint32
	pending []Event // in f, not yet imported
	line    []byte  // the buffer each line is encoded in (spoolLine)
	// waiting are generations switched away from whose import failed (the
	// writer could not write): the next import tries them first, in order.
	waiting []spooled

	importMu sync.Mutex // one import at a time, in order of generation
	kick     chan struct{}
	quit     chan struct{}
	stop     sync.Once
	exited   chan struct{}
}

// spoolFile names generation gen's file.
func (p *spool) spoolFile(gen uint32) string {
	return p.base + spoolSuffix + strconv.FormatUint(uint64(gen), 10)
}

// openSpool imports what an earlier process left spooled, deletes the
// imported files and starts the next generation.
func (s *DB) openSpool(ctx context.Context, path string) error {
	p := &spool{base: path, kick: make(chan struct{}, 1), quit: make(chan struct{}), exited: make(chan struct{})}
	var imported int64
	if err := s.db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&imported); err != nil {
		return fmt.Errorf("spool: read the imported generation: %w", err)
	}
	last := uint32(imported)
	gens, err := spoolGens(path)
	if err != nil {
		return err
	}
	for _, g := range gens {
		file := p.spoolFile(g)
		if int32(g-last) > 0 {
			evs, err := readSpool(file)
			if err != nil {
				return err
			}
			if err := s.importSpooled(ctx, g, evs); err != nil {
				return err
			}
			last = g
		}
		if err := os.Remove(file); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
	}
	p.gen = last + 1
	if p.f, err = createSpool(p.spoolFile(p.gen)); err != nil {
		return err
	}
	s.spool = p
	go s.spoolLoop()
	return nil
}

// spoolGens lists the generations of the spool files beside path, oldest
// first (as serial numbers: a run never spans more than a few).
func spoolGens(path string) ([]uint32, error) {
	matches, err := filepath.Glob(path + spoolSuffix + "*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var gens []uint32
	for _, m := range matches {
		g, err := strconv.ParseUint(strings.TrimPrefix(m, path+spoolSuffix), 10, 32)
		if err != nil {
			continue // not ours
		}
		gens = append(gens, uint32(g))
	}
	sort.Slice(gens, func(i, j int) bool { return int32(gens[i]-gens[j]) < 0 })
	return gens, nil
}

func createSpool(file string) (*os.File, error) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return f, nil
}

// readSpool reads a spool file's events; a line that does not parse (the
// torn last write of a power cut) is skipped.
func readSpool(file string) ([]Event, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	var evs []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev Event
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Kind != "" {
			evs = append(evs, ev)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("spool: read %s: %w", file, err)
	}
	return evs, nil
}

// importSpooled inserts gen's events and marks gen imported, in one
// durable write.
func (s *DB) importSpooled(ctx context.Context, gen uint32, evs []Event) error {
	return s.tx(ctx, "import spooled events", func(tx *txn) error {
		for _, ev := range evs {
			if err := insertEvent(ctx, tx, ev); err != nil {
				return err
			}
		}
		// Not a cached statement: the text changes every time.
		_, err := tx.x.(*writer).conn.ExecContext(tx.ctx, `PRAGMA user_version = `+strconv.FormatInt(int64(int32(gen)), 10))
		return err
	})
}

// spoolEvent appends ev to the spool; false when the spool cannot take it
// (the caller then writes it through the writer).
func (s *DB) spoolEvent(ctx context.Context, ev Event) bool {
	if s.spool == nil {
		return false // PostgreSQL: no spool
	}
	p := s.spool
	p.mu.Lock()
	if len(p.pending) >= spoolMax {
		p.mu.Unlock()
		if s.flushSpool(ctx) != nil {
			return false // the writer cannot write: the caller tries it
		}
		p.mu.Lock()
	}
	if p.f == nil {
		p.mu.Unlock()
		return false
	}
	line, err := spoolLine(p.line[:0], ev)
	if err != nil {
		p.mu.Unlock()
		return false
	}
	p.line = line // kept for the next line: no allocation per event
	if _, err := p.f.Write(line); err != nil {
		// A short write leaves a torn line, which the import skips.
		p.mu.Unlock()
		return false
	}
	p.pending = append(p.pending, ev)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return true
}

// flushSpool imports every event spooled so far. The import is not
// cancelled with ctx (a reader's): events of a generation switched away
// from must be imported, or they would stay invisible until the next open.
func (s *DB) flushSpool(ctx context.Context) error {
	if s.spool == nil {
		return nil // PostgreSQL: every event is in the table
	}
	ctx = context.WithoutCancel(ctx)
	p := s.spool
	p.importMu.Lock()
	defer p.importMu.Unlock()
	p.mu.Lock()
	var old *os.File
	if len(p.pending) > 0 && p.f != nil {
		// Switch: appends go to the next generation while this one is
		// imported.
		next, err := createSpool(p.spoolFile(p.gen + 1))
		if err != nil {
			p.mu.Unlock()
			return err
		}
		old = p.f
		p.waiting = append(p.waiting, spooled{gen: p.gen, evs: p.pending})
		p.f, p.gen, p.pending = next, p.gen+1, nil
	}
	todo := p.waiting
	p.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	for _, g := range todo {
		if err := s.importSpooled(ctx, g.gen, g.evs); err != nil {
			// It stays waiting, in its file, for the next import (or
			// the next open).
			return err
		}
		p.mu.Lock()
		p.waiting = p.waiting[1:]
		p.mu.Unlock()
		if err := os.Remove(p.spoolFile(g.gen)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
	}
	return nil
}

// spoolLoop imports spooled events a few milliseconds after they come.
func (s *DB) spoolLoop() {
	p := s.spool
	defer close(p.exited)
	for {
		select {
		case <-p.quit:
			return
		case <-p.kick:
		}
		select {
		case <-p.quit:
			return
		case <-time.After(spoolDelay):
		}
		if err := s.flushSpool(context.Background()); err != nil {
			// Reported to the next reader of the log; the events stay
			// in their file for the next open.
			continue
		}
	}
}

// closeSpool stops the importer and imports what is left.
func (s *DB) closeSpool() error {
	p := s.spool
	if p == nil {
		return nil
	}
	p.stop.Do(func() { close(p.quit) })
	<-p.exited
	err := s.flushSpool(context.Background())
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		name := p.f.Name()
		_ = p.f.Close()
		p.f = nil
		if err == nil && len(p.pending) == 0 {
			_ = os.Remove(name) // empty
		}
	}
	return err
}
