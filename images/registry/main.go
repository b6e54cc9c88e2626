// The registry (github.com/distribution/distribution/v3) with what a local
// cluster's registry uses: the filesystem storage driver and pull-through
// caching (proxy). Upstream's cmd/registry also imports the S3, Azure and GCS
// storage drivers and their cloud SDKs, which only add module downloads and
// build time here.
package main

import (
	"github.com/distribution/distribution/v3/registry"

	_ "github.com/distribution/distribution/v3/registry/proxy"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

func main() {
	// As upstream's main: the commands print their own errors and exit non-zero.
	// nolint:errcheck
	registry.RootCmd.Execute()
}
