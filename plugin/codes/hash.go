package codes

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"
)

// Purpose says what a hashed value is for. It is bound into the hash, so a
// value hashed for one purpose never matches a row of another: a backup
// code typed as a bypass code, or a ticket presented as a recovery link.
type Purpose string

// Purposes.
const (
	PurposeBackupCode   Purpose = "backup-code"
	PurposeBypassCode   Purpose = "bypass-code"
	PurposeRecoveryLink Purpose = "recovery-link"
	PurposeTicket       Purpose = "backup-codes-ticket"
)

// hkdfInfo labels the key this package derives, so the same key file can
// serve other purposes (secretbox uses it directly for AES-GCM) without two
// uses ever sharing a key.
const hkdfInfo = "helpdesk-duo/duo-plugin: recovery code hashing v1"

// HashLen is the length of a hash.
const HashLen = sha256.Size

// Hasher computes the keyed hashes the store keeps. It is safe for
// concurrent use.
type Hasher struct {
	key [32]byte
}

// NewHasher derives the hashing key from the plugin's secrets key (the
// contents of its key file) with HKDF-SHA256.
func NewHasher(secretsKey []byte) (*Hasher, error) {
	if len(secretsKey) < 32 {
		return nil, fmt.Errorf("codes: secrets key is %d bytes; at least 32 are needed", len(secretsKey))
	}
	h := &Hasher{}
	if _, err := io.ReadFull(hkdf.New(sha256.New, secretsKey, nil, []byte(hkdfInfo)), h.key[:]); err != nil {
		return nil, fmt.Errorf("codes: derive hashing key: %w", err)
	}
	return h, nil
}

// Code hashes a typed code for one operator: the hash is bound to the
// operator, so a row cannot be moved to someone else's account.
func (h *Hasher) Code(p Purpose, operatorID string, c Code) []byte {
	return h.sum(p, operatorID, []byte(c.canonical.Reveal()))
}

// Token hashes a recovery-link token or a ticket for one operator.
func (h *Hasher) Token(p Purpose, operatorID string, t Token) []byte {
	return h.sum(p, operatorID, t.raw())
}

// sum is HMAC-SHA256 over the length-prefixed purpose, operator and value,
// so no two different triples share an input.
func (h *Hasher) sum(p Purpose, operatorID string, value []byte) []byte {
	m := hmac.New(sha256.New, h.key[:])
	for _, part := range [][]byte{[]byte(p), []byte(operatorID), value} {
		var n [binary.MaxVarintLen64]byte
		m.Write(n[:binary.PutUvarint(n[:], uint64(len(part)))])
		m.Write(part)
	}
	return m.Sum(nil)
}
