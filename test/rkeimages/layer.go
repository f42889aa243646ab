package rkeimages

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// epoch is the modification time of every file in the images, so the same inputs give the same
// layer digests.
var epoch = time.Unix(0, 0).UTC()

// layer is one filesystem changeset of an image: an uncompressed tar file whose SHA-256 is the
// diff_id the image config lists.
type layer struct {
	file   string
	diffID string // "sha256:<hex>"
	size   int64
}

// fileEntry is one file a layer adds. A directory has none of data, src and link.
type fileEntry struct {
	path string      // in the image, relative to its root: "usr/local/bin/kubelet"
	mode fs.FileMode // permission bits, with the setuid/setgid/sticky bits when set
	data []byte      // contents, or
	src  string      // a file on disk to copy, or
	link string      // the target of a symbolic link
}

func (e fileEntry) isDir() bool { return e.data == nil && e.src == "" && e.link == "" }

// writeLayer writes a layer tar to file with fill and returns its digest and size.
func writeLayer(file string, fill func(tw *tar.Writer) error) (layer, error) {
	f, err := os.Create(file)
	if err != nil {
		return layer{}, fmt.Errorf("create layer %s: %w", file, err)
	}
	defer f.Close()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	tw := tar.NewWriter(cw)
	if err := fill(tw); err != nil {
		return layer{}, fmt.Errorf("write layer %s: %w", file, err)
	}
	if err := tw.Close(); err != nil {
		return layer{}, fmt.Errorf("write layer %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return layer{}, fmt.Errorf("write layer %s: %w", file, err)
	}
	return layer{file: file, diffID: "sha256:" + hex.EncodeToString(h.Sum(nil)), size: cw.n}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// addTree adds everything below root, in lexical order, keeping modes, owners, symbolic links and
// hard links. Device nodes, sockets and FIFOs are left out: Docker gives containers their own /dev.
func addTree(tw *tar.Writer, root string) error {
	links := map[[2]uint64]string{} // (device, inode) of files with several names -> first name
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", p)
		}
		hdr := &tar.Header{
			Name:    filepath.ToSlash(rel),
			Mode:    int64(fi.Mode().Perm()) | specialBits(fi.Mode()),
			Uid:     int(st.Uid),
			Gid:     int(st.Gid),
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		switch {
		case fi.Mode().IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
		case fi.Mode()&fs.ModeSymlink != 0:
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
			hdr.Typeflag = tar.TypeSymlink
		case fi.Mode().IsRegular():
			id := [2]uint64{uint64(st.Dev), st.Ino}
			if first, seen := links[id]; seen && st.Nlink > 1 {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
				break
			}
			if st.Nlink > 1 {
				links[id] = hdr.Name
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		default:
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			return copyFile(tw, p, hdr.Size)
		}
		return nil
	})
}

// addFiles adds entries, in lexical order, each after its parent directories; parents not listed
// are added as root-owned 0755 directories.
func addFiles(tw *tar.Writer, entries []fileEntry) error {
	byPath := map[string]fileEntry{}
	for _, e := range entries {
		p := path.Clean(strings.TrimPrefix(e.path, "/"))
		if p == "." || strings.HasPrefix(p, "../") {
			return fmt.Errorf("file %q: not a path inside the image", e.path)
		}
		if _, dup := byPath[p]; dup {
			return fmt.Errorf("file %q listed twice", p)
		}
		e.path = p
		byPath[p] = e
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if _, ok := byPath[d]; !ok {
				byPath[d] = fileEntry{path: d, mode: 0o755}
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		e := byPath[p]
		if err := byPath[path.Dir(p)].checkParent(p); err != nil {
			return err
		}
		hdr := &tar.Header{Name: p, Mode: int64(e.mode.Perm()) | specialBits(e.mode), ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case e.isDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, p+"/"
		case e.link != "":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		case e.src != "":
			fi, err := os.Stat(e.src)
			if err != nil {
				return fmt.Errorf("file %s: %w", p, err)
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		var err error
		switch {
		case e.src != "" && e.link == "":
			err = copyFile(tw, e.src, hdr.Size)
		case e.data != nil:
			_, err = tw.Write(e.data)
		}
		if err != nil {
			return fmt.Errorf("file %s: %w", p, err)
		}
	}
	return nil
}

// checkParent refuses a file whose parent is listed as something other than a directory.
func (e fileEntry) checkParent(child string) error {
	if e.path != "" && !e.isDir() {
		return fmt.Errorf("file %s: its parent %s is not a directory", child, e.path)
	}
	return nil
}

func specialBits(m fs.FileMode) int64 {
	var b int64
	if m&fs.ModeSetuid != 0 {
		b |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		b |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		b |= 0o1000
	}
	return b
}

// copyFile copies exactly size bytes of file p: a file that changed size while the layer was
// written would make a corrupt tar.
func copyFile(w io.Writer, p string, size int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: changed size while being archived", p)
	}
	return nil
}
