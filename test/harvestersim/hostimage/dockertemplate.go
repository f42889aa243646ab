package hostimage

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/harvestersim/internal/proc"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/diskcache"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/internal/logtail"
	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/rkeimages"
)

// A Docker template is /var/lib/docker of the Docker image with RKE's images loaded: what a VM
// image with the images pre-pulled carries. It is made once per image set and Docker version by the
// image's own dockerd (a throwaway one, in namespaces of its own), cached next to the root
// filesystems, and copied into each host's Docker storage before the host boots.

// templateKeep are the parts of /var/lib/docker a template keeps: the images and their layers. The
// rest (networks, containerd's state, build cache) each host's dockerd makes for itself.
var templateKeep = []string{"image", "overlay2"}

// templateBoot runs as the init of fresh mount, network and PID namespaces: it mounts the image like
// a host's boot does, with the template directory as /var/lib/docker and the image set at /rkeimages,
// starts dockerd, prints "ready" once it answers, and stops it when its standard input closes.
// Arguments: work directory, lower root filesystem, image set directory, template directory.
const templateBoot = `set -eu
W=$1 LOWER=$2 SET=$3 DOCKER=$4
R=$W M=$W/merged
` + MountRoot + `mkdir -p "$M/var/lib/docker" "$M/rkeimages"
mount --bind "$DOCKER" "$M/var/lib/docker"
mount --bind -o ro "$SET" "$M/rkeimages"
ip link set lo up
# No network, no firewall: it only loads images.
chroot "$M" dockerd --bridge=none --iptables=false --ip6tables=false >"$W/dockerd.log" 2>&1 &
D=$!
n=0
until chroot "$M" docker version >/dev/null 2>&1; do
	kill -0 "$D" 2>/dev/null || { echo "dockerd exited" >&2; exit 1; }
	n=$((n + 1))
	[ "$n" -lt 300 ] || { echo "dockerd not ready after 30 s" >&2; exit 1; }
	sleep 0.1
done
echo ready
read -r _ || true
kill -TERM "$D"
wait "$D" || true
`

// ensureDockerTemplate returns the template for the set and the image at lower, building it when
// missing (~10 s); older templates are removed.
func ensureDockerTemplate(ctx context.Context, set *rkeimages.Set, lower string, logf func(string, ...any)) (string, error) {
	version, err := dockerVersion(lower)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(strings.Join([]string{filepath.Base(set.Dir), version, templateBoot}, "\n")))
	prefix := filepath.Base(lower) + ".var-lib-docker-"
	dir := filepath.Join(filepath.Dir(lower), prefix+hex.EncodeToString(sum[:8]))
	dir, err = diskcache.Dir(ctx, dir, func(ctx context.Context, tmp string) error {
		logf("harvestersim: loading RKE's images into the Docker storage of %s (once per image set)", filepath.Base(lower))
		start := time.Now()
		if err := buildDockerTemplate(ctx, tmp, set, lower); err != nil {
			return err
		}
		logf("harvestersim: Docker storage with RKE's images built in %s", time.Since(start).Round(time.Millisecond))
		return nil
	})
	if err != nil {
		return "", err
	}
	// Templates of older image sets or Docker versions go, unless one is being built.
	if err := diskcache.PruneSiblings(dir, prefix); err != nil {
		logf("harvestersim: remove old Docker templates: %v", err)
	}
	return dir, nil
}

// dockerVersion is the version of Debian's docker.io installed in the root filesystem at dir.
func dockerVersion(dir string) (string, error) {
	f, err := os.Open(filepath.Join(dir, "var/lib/dpkg/status"))
	if err != nil {
		return "", fmt.Errorf("read the image's packages: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	docker := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "Package: "):
			docker = line == "Package: docker.io"
		case docker && strings.HasPrefix(line, "Version: "):
			return strings.TrimPrefix(line, "Version: "), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read the image's packages: %w", err)
	}
	return "", fmt.Errorf("the image at %s has no docker.io", dir)
}

// buildDockerTemplate loads the set into the image's dockerd with tmp as its /var/lib/docker, checks
// the images' IDs, and keeps only templateKeep.
func buildDockerTemplate(ctx context.Context, tmp string, set *rkeimages.Set, lower string) (err error) {
	work, err := os.MkdirTemp(filepath.Dir(tmp), ".template-work-")
	if err != nil {
		return fmt.Errorf("build Docker template: %w", err)
	}
	defer func() {
		if rerr := diskcache.RemoveTree(work); rerr != nil && err == nil {
			err = rerr
		}
	}()
	for _, d := range []string{"rw", "merged"} {
		if err := os.Mkdir(filepath.Join(work, d), 0o755); err != nil {
			return fmt.Errorf("build Docker template: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--propagation", "private",
		"/bin/sh", "-c", templateBoot, "harvestersim-template", work, lower, set.Dir, tmp)
	cmd.Env = proc.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("build Docker template: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("build Docker template: %w", err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("build Docker template: %w", err)
	}
	failed := func(err error) error {
		stdin.Close()
		_ = cmd.Wait()
		log, _ := os.ReadFile(filepath.Join(work, "dockerd.log"))
		return fmt.Errorf("build Docker template: %w: %s\ndockerd: %s", err, strings.TrimSpace(stderr.String()), logtail.Last(string(log), 15))
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		return failed(fmt.Errorf("dockerd did not start (%v)", err))
	}
	init, err := proc.ChildPID(cmd.Process.Pid)
	if err != nil {
		return failed(err)
	}
	run := func(ctx context.Context, argv ...string) ([]byte, error) {
		args := append([]string{"-t", strconv.Itoa(init), "-m", "--", "chroot", filepath.Join(work, "merged")}, argv...)
		c := exec.CommandContext(ctx, "nsenter", args...)
		var errOut strings.Builder
		c.Stderr = &errOut
		out, err := c.Output()
		if err != nil {
			return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(errOut.String()))
		}
		return out, nil
	}
	if err := set.Load(ctx, run, "/rkeimages/"+filepath.Base(set.Archive)); err != nil {
		return failed(err)
	}
	// dockerd stops cleanly when the script reads the end of its input, so its metadata is complete.
	stdin.Close()
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("build Docker template: stop dockerd: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("build Docker template: %w", err)
	}
	for _, e := range entries {
		if !slices.Contains(templateKeep, e.Name()) {
			if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
				return fmt.Errorf("build Docker template: %w", err)
			}
		}
	}
	return nil
}

// Preloaded reports whether hosts get RKE's images in their Docker storage (see PopulateDocker).
func (k *Kubernetes) Preloaded() bool { return k.dockerTemplate != "" }

// PopulateDocker fills a host's empty Docker storage from the template. The layers' files are hard
// links when the template is on the same filesystem: overlay2 mounts an image layer only as a
// read-only lower directory, and containers write to upper directories of their own, so no host can
// change them. The image metadata, which dockerd rewrites, is copied.
func (k *Kubernetes) PopulateDocker(dst string) error {
	link := sameFilesystem(k.dockerTemplate, dst)
	for _, part := range templateKeep {
		args := []string{"-a"}
		if part == "overlay2" && link {
			args = append(args, "--link")
		}
		args = append(args, filepath.Join(k.dockerTemplate, part), dst+"/")
		if out, err := exec.Command("cp", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("copy RKE's images into the host's Docker storage: cp %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

func sameFilesystem(a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		return false
	}
	return sa.Dev == sb.Dev
}
