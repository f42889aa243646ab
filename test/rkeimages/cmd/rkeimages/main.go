// Command rkeimages builds the images RKE needs on the local Harvester stand-in's fake hosts into
// the machine-wide cache (CI runs it before the tests) and prints the set as JSON: the archive to
// `docker load -i` and the images' tags, IDs and sizes.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/test/rkeimages"
)

func main() {
	var opts rkeimages.Options
	flag.StringVar(&opts.CacheDir, "cache", "", "cache directory (default $HARVESTERRKE_CACHE or ~/.cache/harvesterrke)")
	flag.StringVar(&opts.Mirror, "mirror", "", "Debian mirror host (default deb.debian.org)")
	flag.Parse()
	log.SetFlags(0)
	opts.Logf = log.Printf
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	set, err := rkeimages.Build(ctx, opts)
	if err != nil {
		log.Fatal(err)
	}
	fi, err := os.Stat(set.Archive)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("rkeimages: %s (%d MB) ready in %s", set.Archive, fi.Size()>>20, time.Since(start).Round(time.Millisecond))
	out, err := json.MarshalIndent(set, "", "  ")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(out))
}
