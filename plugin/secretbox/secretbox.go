// Package secretbox seals the plugin's stored secrets (the Duo client
// secret) with AES-256-GCM under a key kept in a file beside the database.
//
// The key file is created once, with mode 0600, and never leaves the plugin's
// data directory. Each sealed value carries its own random nonce, and the
// name of the value is bound in as additional data so a ciphertext cannot be
// moved from one field to another.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// KeySize is the length of the key in bytes (AES-256).
const KeySize = 32

// ErrOpen is returned when a sealed value cannot be opened: wrong key,
// wrong name or tampered data.
var ErrOpen = errors.New("secretbox: cannot open sealed value (wrong key or corrupted data)")

// Box seals and opens values with one key.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a KeySize-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secretbox: %w", err)
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext; name is authenticated but not stored.
func (b *Box) Seal(name string, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secretbox: nonce: %w", err)
	}
	return b.aead.Seal(nonce, nonce, plaintext, []byte(name)), nil
}

// Open decrypts a value sealed under the same name.
func (b *Box) Open(name string, sealed []byte) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n+b.aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// LoadOrCreateKey reads the key file at path, creating it with a fresh
// random key and mode 0600 if it does not exist. created reports whether it
// was made now. A key file readable by others is refused.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = readKey(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("secretbox: generate key: %w", err)
	}
	// O_EXCL: if two activations race, one creates and the other reads.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		key, err = readKey(path)
		return key, false, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("secretbox: create key file: %w", err)
	}
	if _, err := f.Write(key); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, false, fmt.Errorf("secretbox: write key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, false, fmt.Errorf("secretbox: sync key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("secretbox: close key file: %w", err)
	}
	return key, true, nil
}

func readKey(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secretbox: key file: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("secretbox: key file %s has mode %o; it must not be readable by group or others (chmod 600)", path, perm)
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secretbox: read key file: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key file %s holds %d bytes, want %d", path, len(key), KeySize)
	}
	return key, nil
}
