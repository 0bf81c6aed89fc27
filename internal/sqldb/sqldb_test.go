package sqldb

import "testing"

func TestRebind(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, in, want string }{
		{"none", `SELECT 1`, `SELECT 1`},
		{"ordered", `SELECT a FROM t WHERE b = ? AND c IN (?,?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2,$3)`},
		{"numbered", `UPDATE t SET a = ?1, b = CASE WHEN ?3 = 1 THEN ?1 END WHERE id = ?2`, `UPDATE t SET a = $1, b = CASE WHEN $3 = 1 THEN $1 END WHERE id = $2`},
		{"ten and more", `VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`},
		{"numbered at the end", `WHERE id = ?12`, `WHERE id = $12`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Rebind(c.in); got != c.want {
				t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}
