package gitsource

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrUntrusted means a commit carries no valid OpenPGP signature by a key
// of the KeyRing: it is unsigned, signed by another key, or its signature
// does not match its content.
var ErrUntrusted = errors.New("not signed by a trusted key")

// UntrustedError is the error of KeyRing.Verify: the commit Revision is
// not signed by a trusted key, for the reason Err. It wraps ErrUntrusted.
type UntrustedError struct {
	// Revision is the commit's SHA-1 in hex.
	Revision string
	Err      error
}

func (e *UntrustedError) Error() string {
	return fmt.Sprintf("revision %s is %v: %v", shortRev(e.Revision), ErrUntrusted, e.Err)
}

func (e *UntrustedError) Unwrap() []error { return []error{ErrUntrusted, e.Err} }

// KeyRing holds the OpenPGP public keys whose signatures make a commit
// trusted, as go-git's Commit.Verify reads them: ASCII-armored.
type KeyRing struct {
	armored string
	keys    openpgp.EntityList
}

// ReadKeyRing reads an ASCII-armored OpenPGP keyring (gpg --export
// --armor) from file. Errors name the file.
func ReadKeyRing(file string) (*KeyRing, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w: %w", file, ErrConfig, err)
	}
	k, err := ParseKeyRing(data)
	if err != nil {
		return nil, fmt.Errorf("keyring %s: %w", file, err)
	}
	return k, nil
}

// ParseKeyRing reads an ASCII-armored OpenPGP keyring holding one or
// more public keys, in one armored block or several one after another
// (exported keys concatenated). Only the public parts are kept.
func ParseKeyRing(armored []byte) (*KeyRing, error) {
	var keys openpgp.EntityList
	for _, part := range armorBlocks(armored) {
		block, err := armor.Decode(bytes.NewReader(part))
		if err != nil {
			return nil, fmt.Errorf("%w: not an ASCII-armored OpenPGP keyring: %w", ErrConfig, err)
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("%w: %s found where OpenPGP keys were expected", ErrConfig, block.Type)
		}
		list, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: not an ASCII-armored OpenPGP keyring: %w", ErrConfig, err)
		}
		keys = append(keys, list...)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no ASCII-armored OpenPGP key found (export one with gpg --export --armor KEYID)", ErrConfig)
	}
	// One armored block of the public keys, as Commit.Verify reads it.
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, err
	}
	for _, e := range keys {
		if err := e.Serialize(w); err != nil {
			return nil, fmt.Errorf("%w: OpenPGP key %X: %w", ErrConfig, e.PrimaryKey.Fingerprint, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &KeyRing{armored: b.String(), keys: keys}, nil
}

// armorBlocks splits data where each armored block begins (armor.Decode
// reads ahead, past the end of its block).
func armorBlocks(data []byte) [][]byte {
	begin := []byte("-----BEGIN PGP ")
	var out [][]byte
	for start := bytes.Index(data, begin); start >= 0; {
		next := bytes.Index(data[start+len(begin):], begin)
		if next < 0 {
			out = append(out, data[start:])
			break
		}
		next += start + len(begin)
		out = append(out, data[start:next])
		start = next
	}
	return out
}

// Fingerprints are the keys' primary fingerprints, in hex capitals.
func (k *KeyRing) Fingerprints() []string {
	out := make([]string, 0, len(k.keys))
	for _, e := range k.keys {
		out = append(out, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
	}
	return out
}

// Verify checks that the head commit of snap carries a valid OpenPGP
// signature by a key of k (go-git's Commit.Verify). It fails with an
// *UntrustedError when the commit is unsigned, signed by a key k does
// not hold, or its signature does not match it, and when snap holds no
// commit (Snapshot.Commit) or a commit other than snap.Revision.
func (k *KeyRing) Verify(snap Snapshot) error {
	untrusted := func(err error) error { return &UntrustedError{Revision: snap.Revision, Err: err} }
	if len(snap.Commit) == 0 {
		return untrusted(errors.New("the commit object is not at hand"))
	}
	obj := &plumbing.MemoryObject{}
	obj.SetType(plumbing.CommitObject)
	if _, err := obj.Write(snap.Commit); err != nil {
		return untrusted(err)
	}
	commit := &object.Commit{}
	if err := commit.Decode(obj); err != nil {
		return untrusted(fmt.Errorf("decode the commit: %w", err))
	}
	if commit.Hash.String() != snap.Revision {
		return untrusted(fmt.Errorf("the commit object at hand is %s", commit.Hash))
	}
	if strings.TrimSpace(commit.PGPSignature) == "" {
		return untrusted(errors.New("the commit is not signed"))
	}
	if !strings.Contains(commit.PGPSignature, "BEGIN PGP SIGNATURE") {
		return untrusted(errors.New("the commit's signature is not an OpenPGP signature"))
	}
	if _, err := commit.Verify(k.armored); err != nil {
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			return untrusted(fmt.Errorf("signed by key %s, which is not in the keyring", issuer(commit.PGPSignature)))
		}
		return untrusted(fmt.Errorf("bad signature: %w", err))
	}
	return nil
}

// issuer names the key that made the armored signature: its
// fingerprint or key ID.
func issuer(sig string) string {
	block, err := armor.Decode(strings.NewReader(sig))
	if err != nil {
		return "(unreadable)"
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return "(unreadable)"
	}
	s, ok := p.(*packet.Signature)
	if !ok {
		return "(unreadable)"
	}
	switch {
	case len(s.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", s.IssuerFingerprint)
	case s.IssuerKeyId != nil:
		return fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	return "(unnamed)"
}

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
