package main

import (
	"archive/zip"
	"fmt"
	"io"
	"os"
)

// zipFiles writes files to archive, each under its full path (as rke-tools names them, so the
// state file is found by its path on extraction).
func zipFiles(archive string, files []string) error {
	f, err := os.OpenFile(archive, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, name := range files {
		if err := addToZip(zw, name); err != nil {
			return fmt.Errorf("add %s to %s: %w", name, archive, err)
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func addToZip(zw *zip.Writer, name string) error {
	src, err := os.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	hdr, err := zip.FileInfoHeader(fi)
	if err != nil {
		return err
	}
	hdr.Name, hdr.Method = name, zip.Deflate
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, src)
	return err
}

// unzipFile writes the archive's entry named entry to dest.
func unzipFile(archive, entry, dest string) error {
	r, err := zip.OpenReader(archive)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, f := range r.File {
		if f.Name != entry {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return writeFileAtomic(dest, rc)
	}
	return fmt.Errorf("%s holds no %s", archive, entry)
}
