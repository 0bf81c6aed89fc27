package host

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// A release bundle is signed with ed25519 over the bytes of its plugin.json,
// which carry every executable's sha256: one signature vouches for the
// manifest and, through the checksums, for every binary. The formats are
// plain text so that a vendor can read, diff and pin them:
//
//	public key      duo-plugin-ed25519 <base64 of the 32-byte key> [comment]
//	signature file  duo-plugin-ed25519-signature <key id> <base64 of the 64-byte signature>
//
// (one line each, standard base64 with padding). The key id is the first 8
// bytes of the key's SHA-256 in hex (KeyID): it only names which key signed,
// so that an error can say "signed by a key you do not trust" rather than
// "does not verify"; the signature is checked against the pinned key itself.
// What is signed is SignedMessagePrefix followed by the manifest's bytes,
// so that a signature made for a manifest can never be replayed as one over
// anything else the same key signs.
const (
	PublicKeyPrefix = "duo-plugin-ed25519"
	SignaturePrefix = "duo-plugin-ed25519-signature"
	// SignatureFile is the name of the signature beside plugin.json.
	SignatureFile = "plugin.json.sig"
	// SignedMessagePrefix is prepended to the manifest's bytes before
	// signing (domain separation).
	SignedMessagePrefix = "duo-plugin manifest v1\x00"
)

// ErrBadSignature means the manifest's signature is missing, malformed, made
// by a key that is not one of the trusted keys, or does not verify (the
// manifest or the signature was altered). The error's text names which.
var ErrBadSignature = errors.New("plugin manifest signature not valid")

// KeyID names a public key: the hex of the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// FormatPublicKey returns pub in the public-key text format, without a
// comment or newline.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return PublicKeyPrefix + " " + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey reads one key in the public-key text format. Anything after
// the key, separated by white space, is a comment and ignored.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	f := strings.Fields(s)
	if len(f) < 2 || f[0] != PublicKeyPrefix {
		return nil, fmt.Errorf("public key: want %q followed by the base64 key", PublicKeyPrefix+" ")
	}
	b, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		return nil, fmt.Errorf("public key: base64: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// ParsePublicKeys reads a key file: one key per line in the public-key text
// format; blank lines and lines starting with '#' are skipped. It fails on
// the first bad line, naming it, and when there is no key at all.
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := ParsePublicKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key")
	}
	return keys, nil
}

// SignManifest returns the signature file's contents for the manifest bytes
// under priv. Release tooling uses it; hosts only verify.
func SignManifest(priv ed25519.PrivateKey, manifest []byte) []byte {
	pub := priv.Public().(ed25519.PublicKey)
	sig := ed25519.Sign(priv, signedMessage(manifest))
	return []byte(SignaturePrefix + " " + KeyID(pub) + " " + base64.StdEncoding.EncodeToString(sig) + "\n")
}

func signedMessage(manifest []byte) []byte {
	return append([]byte(SignedMessagePrefix), manifest...)
}

// VerifyManifest checks sigFile (the signature file's contents) over the
// manifest bytes against the trusted keys and returns the id of the key that
// signed. Every failure matches ErrBadSignature and says what failed.
func VerifyManifest(manifest, sigFile []byte, trusted []ed25519.PublicKey) (keyID string, err error) {
	if len(trusted) == 0 {
		return "", sentinelError(ErrBadSignature, "no trusted keys to verify the manifest's signature against")
	}
	f := strings.Fields(string(sigFile))
	if len(f) != 3 || f[0] != SignaturePrefix {
		return "", sentinelError(ErrBadSignature, "malformed signature: want one line %q", SignaturePrefix+" <key id> <base64 signature>")
	}
	sig, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return "", sentinelError(ErrBadSignature, "malformed signature: not %d bytes of base64", ed25519.SignatureSize)
	}
	var key ed25519.PublicKey
	for _, k := range trusted {
		if len(k) == ed25519.PublicKeySize && KeyID(k) == f[1] {
			key = k
			break
		}
	}
	if key == nil {
		ids := make([]string, len(trusted))
		for i, k := range trusted {
			ids[i] = KeyID(k)
		}
		return "", sentinelError(ErrBadSignature, "manifest signed by key %s, which is not a trusted key (trusted: %s)", f[1], strings.Join(ids, ", "))
	}
	if !ed25519.Verify(key, signedMessage(manifest), sig) {
		return "", sentinelError(ErrBadSignature, "signature by key %s does not verify: the manifest or its signature was altered", f[1])
	}
	return f[1], nil
}

// readSignedManifest reads plugin.json at path and, when trusted keys are
// given, the signature beside it (path + ".sig"), verifies it, and parses
// the very bytes verified, so that no file swapped between the check and
// the parse is ever used.
func readSignedManifest(path string, trusted []ed25519.PublicKey) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plugin manifest: %w", err)
	}
	if len(trusted) > 0 {
		sig, err := os.ReadFile(path + ".sig")
		if errors.Is(err, os.ErrNotExist) {
			return nil, sentinelError(ErrBadSignature, "manifest %s is not signed: %s.sig does not exist", path, path)
		}
		if err != nil {
			return nil, fmt.Errorf("read plugin manifest signature: %w", err)
		}
		if _, err := VerifyManifest(data, sig, trusted); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", path, err)
		}
	}
	return manifestFromBytes(path, data)
}
