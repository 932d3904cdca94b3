package rpmscan

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// blob builds a header from entries (tag, type, offset, count) and data.
func blob(entries [][4]uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(entries)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	for _, e := range entries {
		for _, v := range e {
			b = binary.BigEndian.AppendUint32(b, v)
		}
	}
	return append(b, data...)
}

func TestParseHeader(t *testing.T) {
	data := []byte("bash\x005.1\x002.el9\x00x86_64\x00(none)\x00\x00\x00\x00\x00\x00\x02")
	full := [][4]uint32{
		{tagName, typeString, 0, 1}, {tagVersion, typeString, 5, 1}, {tagRelease, typeString, 9, 1},
		{tagArch, typeString, 15, 1}, {tagVendor, typeString, 22, 1}, {tagEpoch, typeInt32, uint32(len(data) - 4), 1},
	}
	p, err := parseHeader(blob(full, data))
	require.NoError(t, err)
	assert.Equal(t, Package{Name: "bash", Epoch: 2, Version: "5.1", Release: "2.el9", Arch: "x86_64"}, p)

	for _, tc := range []struct {
		name    string
		entries [][4]uint32
		data    []byte
	}{
		{"no name", [][4]uint32{{tagVersion, typeString, 0, 1}}, []byte("1\x00")},
		{"name of the wrong type", [][4]uint32{{tagName, typeInt32, 0, 1}}, []byte("bash")},
		{"epoch of the wrong type", [][4]uint32{{tagName, typeString, 0, 1}, {tagEpoch, typeString, 0, 1}}, []byte("bash\x00")},
		{"name past the data", [][4]uint32{{tagName, typeString, 5, 1}}, []byte("bash\x00")},
		{"negative offset", [][4]uint32{{tagName, typeString, 0xffffffff, 1}}, []byte("bash\x00")},
		{"epoch past the data", [][4]uint32{{tagName, typeString, 0, 1}, {tagEpoch, typeInt32, 4, 1}}, []byte("bash\x00\x00\x00")},
		{"string without NUL", [][4]uint32{{tagName, typeString, 0, 1}}, []byte("bash")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := blob(tc.entries, tc.data)
			require.NoError(t, checkHeaderBlob(b))
			_, err := parseHeader(b)
			assert.ErrorIs(t, err, ErrCorruptRPMDB)
		})
	}
}
