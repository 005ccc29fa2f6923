package gittest

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Signer is an OpenPGP key made for a test, signing commits as
// `git commit -S` does: an ASCII-armored detached signature of the
// commit without its signature.
type Signer struct {
	Entity *openpgp.Entity
}

// NewSigner generates an Ed25519 OpenPGP key for name.
func NewSigner(tb testing.TB, name string) *Signer {
	tb.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@storeops.test", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		tb.Fatalf("gittest: new OpenPGP key: %v", err)
	}
	return &Signer{Entity: e}
}

// Sign returns the ASCII-armored detached signature of payload; a
// sign function for Repo.CommitSigned.
func (s *Signer) Sign(payload []byte) string {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.Entity, bytes.NewReader(payload), nil); err != nil {
		panic("gittest: sign: " + err.Error())
	}
	return b.String()
}

// Tampered is a sign function making a signature by s that does not
// match the commit: the signature of payload with one byte changed, as
// when a signed commit's content is altered afterwards.
func (s *Signer) Tampered(payload []byte) string {
	altered := bytes.Clone(payload)
	altered[len(altered)-2] ^= 1
	return s.Sign(altered)
}

// PublicKey is the key's public part, ASCII-armored, as `gpg --export
// --armor` writes it.
func (s *Signer) PublicKey(tb testing.TB) []byte {
	tb.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		tb.Fatalf("gittest: %v", err)
	}
	if err := s.Entity.Serialize(w); err != nil {
		tb.Fatalf("gittest: %v", err)
	}
	if err := w.Close(); err != nil {
		tb.Fatalf("gittest: %v", err)
	}
	b.WriteByte('\n')
	return b.Bytes()
}
