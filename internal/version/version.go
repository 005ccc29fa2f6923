// Package version holds the storeops version, set at link time.
package version

// Version is the storeops release, set with -ldflags "-X ...Version=v1.2.3".
var Version = "dev"
