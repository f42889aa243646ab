// Package debian builds the Debian root filesystems of the test support packages (the stand-in's
// fake hosts and RKE's images) with debootstrap. Test support only, never linked into the driver.
package debian

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
)

// suite is the Debian release every root filesystem is built from.
const suite = "bookworm"

// Bootstrap installs a minimal Debian suite with the extra packages into dir, from the mirror's
// plain-HTTP archive (e.g. deb.debian.org).
func Bootstrap(ctx context.Context, dir, mirror string, packages []string) error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return fmt.Errorf("debootstrap not found (apt-get install debootstrap): %w", err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(packages, ","),
		suite, dir, "http://"+mirror+"/debian")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	// On cancel, let debootstrap unmount /proc and /sys from the target before it ends.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap %s into %s: %w\n%s", suite, dir, err, logtail.Last(out.String(), 30))
	}
	return nil
}
