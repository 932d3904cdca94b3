package rpmscan

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDigestReaderSeek checks that skipping forward hashes the skipped
// bytes, stops short at the end without an error, and refuses any other
// seek.
func TestDigestReaderSeek(t *testing.T) {
	data := make([]byte, 3*hashChunk+1234)
	for i := range data {
		data[i] = byte(i * 7)
	}
	sum := sha256.Sum256(data)
	want := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}

	d := newDigestReader(bytes.NewReader(data))
	defer d.close()
	pos, err := d.Seek(0, io.SeekCurrent)
	require.NoError(t, err)
	assert.Zero(t, pos)
	buf := make([]byte, 10)
	_, err = io.ReadFull(d, buf)
	require.NoError(t, err)
	pos, err = d.Seek(hashChunk+5, io.SeekCurrent) // across a chunk boundary
	require.NoError(t, err)
	assert.EqualValues(t, hashChunk+15, pos)
	_, err = io.ReadFull(d, buf)
	require.NoError(t, err)
	assert.Equal(t, data[hashChunk+15:hashChunk+25], buf)

	_, err = d.Seek(-1, io.SeekCurrent)
	assert.ErrorIs(t, err, errSeek)
	_, err = d.Seek(0, io.SeekStart)
	assert.ErrorIs(t, err, errSeek)

	pos, err = d.Seek(int64(len(data)), io.SeekCurrent) // past the end
	require.NoError(t, err)
	assert.EqualValues(t, len(data), pos)
	n, err := d.Read(buf)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, io.EOF)
	require.NoError(t, d.check(want))
}
