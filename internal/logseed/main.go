// Command logseed writes synthetic login events into the plugin's SQLite
// database, for the tests and benchmarks of the authentication log: one
// recursive CTE in one transaction, without fsync. It runs as its own
// process so that a test binary built with -race does not run SQLite
// instrumented (ten times slower). Use it only on a database no plugin has
// open.
//
//	logseed -db DATA_DIR/duo.db -n 1000000 -base 1700000000 [-operators 100000]
//
// Event i (from 1) is at base+i, of operator op-(i%1000), kind login.begin
// (odd) or login.complete (even), outcome denied (reason duo_denied) when
// i%10 == 0, else allowed, from 198.51.100.(i%250) with user agent
// "Mozilla/5.0 (seed i)". With -operators M, operators seed-op-1 …
// seed-op-M (username seed-user-j) are added too, Duo enabled, with no
// Duo username claimed yet: what a large helpdesk's Operators page pages
// through.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"os"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	path := flag.String("db", "", "the plugin's database file (migrated)")
	n := flag.Int("n", 0, "how many events")
	base := flag.Int64("base", 0, "Unix time of event 0")
	operators := flag.Int("operators", 0, "how many Duo-enabled operators to add")
	flag.Parse()
	if err := seed(*path, *n, *base, *operators); err != nil {
		fmt.Fprintf(os.Stderr, "logseed: %v\n", err)
		os.Exit(1)
	}
}

func seed(path string, n int, base int64, operators int) error {
	if path == "" || n <= 0 || operators < 0 {
		return fmt.Errorf("need -db, -n > 0 and -operators >= 0")
	}
	// A seed need not survive power loss, and a large cache keeps the
	// indexes in memory while the rows go in.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)&_pragma=cache_size(-262144)")
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	_, err = db.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM seq WHERE i < ?)
		INSERT INTO audit_events (at, kind, operator_id, actor, client_ip, user_agent, outcome, reason, detail)
		SELECT ? + i, CASE WHEN i % 2 = 1 THEN 'login.begin' ELSE 'login.complete' END, 'op-' || (i % 1000), '',
			'198.51.100.' || (i % 250), 'Mozilla/5.0 (seed ' || i || ')', CASE WHEN i % 10 = 0 THEN 'denied' ELSE 'allowed' END,
			CASE WHEN i % 10 = 0 THEN 'duo_denied' ELSE '' END, 'seeded event ' || i FROM seq`, n, base)
	if err != nil {
		return fmt.Errorf("seed %d events: %w", n, err)
	}
	fmt.Printf("seeded %d events in %s\n", n, time.Since(start).Round(time.Millisecond))
	if operators == 0 {
		return nil
	}
	start = time.Now()
	_, err = db.Exec(`WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM seq WHERE i < ?)
		INSERT INTO operators (id, username, email, enabled, changed_by, changed_at)
		SELECT 'seed-op-' || i, 'seed-user-' || i, 'seed-user-' || i || '@example.com', 1, 'logseed', ? + i FROM seq`, operators, base)
	if err != nil {
		return fmt.Errorf("seed %d operators: %w", operators, err)
	}
	fmt.Printf("seeded %d operators in %s\n", operators, time.Since(start).Round(time.Millisecond))
	return nil
}
