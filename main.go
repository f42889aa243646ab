// Command kontainer-engine-driver-harvesterrke is a Rancher cluster driver that builds RKE clusters
// on Harvester VMs. Rancher runs it as `<binary> <port>`; other arguments make it a command line.
package main

import (
	"os"

	"github.com/harvesterrke/kontainer-engine-driver-harvester/cli"
)

// version is stamped at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	app := &cli.App{Version: version, Stdout: os.Stdout, Stderr: os.Stderr}
	os.Exit(app.Run(os.Args[1:]))
}
