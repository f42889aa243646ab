package savedstate

import (
	"compress/gzip"
	"encoding/base64"
	"io"
)

func gzipWriter(w io.Writer) *gzip.Writer { return gzip.NewWriter(w) }

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
