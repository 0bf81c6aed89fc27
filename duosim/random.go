package duosim

import (
	"crypto/rand"
	"fmt"
)

// randomString returns n characters drawn uniformly from alphabet
// (at most 256 characters) using crypto/rand.
func randomString(n int, alphabet string) (string, error) {
	// Rejection sampling keeps the distribution uniform.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n+n/4+8)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}

// randomToken returns an n-character alphanumeric token, for codes,
// transaction ids and access tokens.
func randomToken(n int) (string, error) { return randomString(n, alnum) }

// randomUUID returns a version 4 UUID, the shape of Duo's txids.
func randomUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
