// cosigv1check opens a Civitas checkpoint note with Go's golang.org/x/mod/sumdb/note, given the
// log's verifier key and a witness's cosignature/v1 verifier key, and prints the names of the
// keys whose signatures verified. The cosignature/v1 verifier is written here from C2SP
// tlog-cosignature, as x/mod's note package knows only Ed25519 (0x01) keys.
//
// Input on stdin: the log's vkey, a newline, the witness's vkey, a newline, then the note.
package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

type cosigV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v cosigV1) Name() string    { return v.name }
func (v cosigV1) KeyHash() uint32 { return v.hash }

func (v cosigV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(v.key, signed, sig[8:])
}

func newCosigV1(vkey string) (cosigV1, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return cosigV1{}, fmt.Errorf("malformed vkey")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return cosigV1{}, fmt.Errorf("not a cosignature/v1 key")
	}
	digest := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	hash := binary.BigEndian.Uint32(digest[:4])
	if fmt.Sprintf("%08x", hash) != parts[1] {
		return cosigV1{}, fmt.Errorf("key hash mismatch")
	}
	return cosigV1{parts[0], hash, ed25519.PublicKey(raw[1:])}, nil
}

func main() {
	in := bufio.NewReader(os.Stdin)
	logKey, _ := in.ReadString('\n')
	witnessKey, _ := in.ReadString('\n')
	msg, _ := io.ReadAll(in)
	logVerifier, err := note.NewVerifier(strings.TrimSpace(logKey))
	if err != nil {
		fmt.Println("log key:", err)
		os.Exit(1)
	}
	witness, err := newCosigV1(strings.TrimSpace(witnessKey))
	if err != nil {
		fmt.Println("witness key:", err)
		os.Exit(1)
	}
	opened, err := note.Open(msg, note.VerifierList(logVerifier, witness))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	for _, sig := range opened.Sigs {
		fmt.Println(sig.Name)
	}
}
