package rke

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxFilesSize bounds what DecompressFiles inflates, against corrupt or hostile input; RKE's
// files for a 30-node cluster are about 1 MB.
const maxFilesSize = 64 << 20

// Compress packs the files into one gzip stream, for persisting them in the driver's state: RKE's
// state repeats its configuration and certificates (desired and current), which gzip removes.
func (f Files) Compress() ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("compress RKE files: %w", err)
	}
	for _, part := range [][]byte{f.State, f.Kubeconfig} {
		var size [binary.MaxVarintLen64]byte
		if _, err := zw.Write(size[:binary.PutUvarint(size[:], uint64(len(part)))]); err != nil {
			return nil, fmt.Errorf("compress RKE files: %w", err)
		}
		if _, err := zw.Write(part); err != nil {
			return nil, fmt.Errorf("compress RKE files: %w", err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress RKE files: %w", err)
	}
	return buf.Bytes(), nil
}

// DecompressFiles reverses Compress; empty input gives empty Files.
func DecompressFiles(packed []byte) (Files, error) {
	if len(packed) == 0 {
		return Files{}, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(packed))
	if err != nil {
		return Files{}, fmt.Errorf("decompress RKE files: %w", err)
	}
	r := bufio.NewReader(io.LimitReader(zr, maxFilesSize))
	var parts [2][]byte
	for i := range parts {
		size, err := binary.ReadUvarint(r)
		if err != nil {
			return Files{}, fmt.Errorf("decompress RKE files: %w", err)
		}
		if size > maxFilesSize {
			return Files{}, fmt.Errorf("decompress RKE files: part of %d bytes exceeds %d", size, maxFilesSize)
		}
		if size > 0 {
			parts[i] = make([]byte, size)
			if _, err := io.ReadFull(r, parts[i]); err != nil {
				return Files{}, fmt.Errorf("decompress RKE files: %w", err)
			}
		}
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		return Files{}, errors.New("decompress RKE files: trailing data")
	}
	return Files{State: parts[0], Kubeconfig: parts[1]}, nil
}
