// Reads a Civitas log's C2SP tlog-tiles over HTTP with Go's golang.org/x/mod/sumdb/tlog and
// sumdb/note, sharing nothing with the writer (tests/civitas/test_tiles.py runs it):
//
//	go run tiles_interop.go PREFIX VERIFIER_KEY OLD_CHECKPOINT_FILE INDEX...
//
// It opens the current checkpoint with the log's key, checks the tree hash that the tiles give
// (tlog.TileHashReader authenticates every tile against that hash), proves the tree of the old
// checkpoint consistent with it (tlog.ProveTree, tlog.CheckTree) and each INDEX's entry, read
// from its entry bundle, included in it (tlog.ProveRecord, tlog.CheckRecord). Prints "ok" and
// exits 0 when all hold.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const height = 8

type checkpoint struct {
	size int64
	root tlog.Hash
}

// c2spPath turns sumdb's tile path (tile/8/L/N, tile/8/data/N) into C2SP's (tile/L/N,
// tile/entries/N): the hash tiles themselves are the same format.
func c2spPath(t tlog.Tile) string {
	path := strings.TrimPrefix(t.Path(), fmt.Sprintf("tile/%d/", height))
	if t.L == -1 {
		return "tile/entries/" + strings.TrimPrefix(path, "data/")
	}
	return "tile/" + path
}

type httpTiles struct{ prefix string }

func (r httpTiles) Height() int { return height }

func (r httpTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, t := range tiles {
		body, err := get(r.prefix + "/" + c2spPath(t))
		if err != nil {
			return nil, err
		}
		data[i] = body
	}
	return data, nil
}

func (r httpTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func get(url string) ([]byte, error) {
	response, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, response.Status)
	}
	return io.ReadAll(response.Body)
}

func openCheckpoint(text []byte, verifier note.Verifier) (checkpoint, error) {
	opened, err := note.Open(text, note.VerifierList(verifier))
	if err != nil {
		return checkpoint{}, err
	}
	lines := strings.SplitN(opened.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != verifier.Name() {
		return checkpoint{}, fmt.Errorf("not a checkpoint of %s", verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return checkpoint{}, err
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("bad root hash %q", lines[2])
	}
	var hash tlog.Hash
	copy(hash[:], root)
	return checkpoint{size, hash}, nil
}

func entry(prefix string, index, size int64) ([]byte, error) {
	bundle := tlog.Tile{H: height, L: -1, N: index >> height, W: 1 << height}
	if rest := size - bundle.N<<height; rest < 1<<height {
		bundle.W = int(rest)
	}
	data, err := get(prefix + "/" + c2spPath(bundle))
	if err != nil {
		return nil, err
	}
	for i := int64(0); len(data) >= 2; i++ {
		length := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+length {
			break
		}
		if i == index%(1<<height) {
			return data[2 : 2+length], nil
		}
		data = data[2+length:]
	}
	return nil, fmt.Errorf("entry %d not in its bundle", index)
}

func check(prefix, vkey, oldFile string, indexes []string) error {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	text, err := get(prefix + "/checkpoint")
	if err != nil {
		return err
	}
	current, err := openCheckpoint(text, verifier)
	if err != nil {
		return err
	}
	oldText, err := os.ReadFile(oldFile)
	if err != nil {
		return err
	}
	old, err := openCheckpoint(oldText, verifier)
	if err != nil {
		return err
	}
	reader := tlog.TileHashReader(tlog.Tree{N: current.size, Hash: current.root}, httpTiles{prefix})
	root, err := tlog.TreeHash(current.size, reader)
	if err != nil {
		return err
	}
	if root != current.root {
		return fmt.Errorf("tree hash %v, checkpoint says %v", root, current.root)
	}
	treeProof, err := tlog.ProveTree(current.size, old.size, reader)
	if err != nil {
		return err
	}
	if err := tlog.CheckTree(treeProof, current.size, current.root, old.size, old.root); err != nil {
		return err
	}
	for _, argument := range indexes {
		index, err := strconv.ParseInt(argument, 10, 64)
		if err != nil {
			return err
		}
		data, err := entry(prefix, index, current.size)
		if err != nil {
			return err
		}
		proof, err := tlog.ProveRecord(current.size, index, reader)
		if err != nil {
			return err
		}
		if err := tlog.CheckRecord(proof, current.size, current.root, index, tlog.RecordHash(data)); err != nil {
			return fmt.Errorf("entry %d: %w", index, err)
		}
	}
	fmt.Printf("ok size=%d old=%d entries=%d\n", current.size, old.size, len(indexes))
	return nil
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: tiles_interop PREFIX VERIFIER_KEY OLD_CHECKPOINT_FILE INDEX...")
		os.Exit(2)
	}
	if err := check(os.Args[1], os.Args[2], os.Args[3], os.Args[4:]); err != nil {
		fmt.Fprintln(os.Stderr, "tiles_interop:", err)
		os.Exit(1)
	}
}
