// Package filehash is the one way this module hashes a file: the hex
// SHA-256 that plugin.json's executables carry. The SDK checks it when it
// installs a bundle, and the release and test bundle builders write it.
package filehash

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"syscall"
)

// SHA256 is the hex SHA-256 of the file at path.
func SHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// CopyExecutable copies src into a new file dst (mode 0700, which must not
// exist), hashing the bytes as it writes them, and returns their SHA-256:
// the file hashed is then the file that runs, with no window in which src
// could be swapped between the two. The SDK starts the plugin this way,
// and the benchmarks' floor pays the same.
func CopyExecutable(src io.Reader, dst string) ([]byte, error) {
	h := sha256.New()
	// The read lock of ForkLock keeps any fork out while the copy is open
	// for writing: a child forked meanwhile would inherit the descriptor
	// until its own exec, and executing the copy would then fail with
	// ETXTBSY ("text file busy").
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o700)
	if err != nil {
		return nil, err
	}
	// A large buffer: the executable is tens of MiB, and io.Copy's 32 KiB
	// costs two syscalls and a hash call per 32 KiB.
	if _, err := io.CopyBuffer(io.MultiWriter(out, h), src, make([]byte, 1<<20)); err != nil {
		_ = out.Close()
		return nil, err
	}
	if err := out.Close(); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
